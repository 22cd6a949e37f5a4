// Hand-written protobuf serializers for the store's hot responses, LookupResponse,
// BatchLookupResponse and LookupStreamResponse: the same bytes as ts-proto's `encode(...).finish()` (proven field by field
// in response-serializer.spec.ts), written straight into one exactly-sized Buffer.
//
// Why: ts-proto's generated `responseSerialize` encodes into a protobufjs BinaryWriter (a linked
// list of chunks, the rows blob copied into it), then `Buffer.from` copies the result once more.
// Here the size is computed first, the rows blob is copied once, and nothing else is allocated.
// Field order and default omission follow ts-proto (proto3: an empty string, 0 or empty bytes is
// not written), so a client cannot tell which serializer answered.
import { store, type common } from '@embpress/proto';

function varintSize(value: number): number {
  // Callers pass uint32 values (lengths, counts, dims) or an int32 enum; a negative int32 is
  // written as a 10-byte two's complement varint, as protobufjs does.
  if (value < 0) return 10;
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

function writeVarint(buf: Buffer, at: number, value: number): number {
  if (value < 0) {
    // int32 sign extension to 64 bits: low 32 bits as given, high 32 bits all ones.
    let low = value >>> 0;
    for (let i = 0; i < 4; i += 1) {
      buf[at++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    // Bits 28..34: the top 4 bits of the low word and 3 ones of the high word.
    buf[at++] = (low & 0x0f) | 0x70 | 0x80;
    for (let i = 0; i < 4; i += 1) buf[at++] = 0xff;
    buf[at++] = 0x01;
    return at;
  }
  let v = value >>> 0;
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** Bytes of a length-delimited field (tag 1 byte): tag + length varint + payload. */
const delimited = (payloadBytes: number) => 1 + varintSize(payloadBytes) + payloadBytes;

function writeString(buf: Buffer, at: number, tag: number, value: string, bytes: number): number {
  buf[at++] = tag;
  at = writeVarint(buf, at, bytes);
  return at + buf.write(value, at, bytes, 'utf8');
}

interface BlockLayout {
  /** Bytes of the VectorBlock message (its payload inside the parent). */
  size: number;
  codecBytes: number;
}

function blockLayout(block: common.VectorBlock): BlockLayout {
  const codecBytes = Buffer.byteLength(block.codec, 'utf8');
  let size = 0;
  if (block.encoding !== 0) size += 1 + varintSize(block.encoding);
  if (block.dim !== 0) size += 1 + varintSize(block.dim);
  if (block.count !== 0) size += 1 + varintSize(block.count);
  if (block.data.length !== 0) size += delimited(block.data.length);
  if (codecBytes !== 0) size += delimited(codecBytes);
  return { size, codecBytes };
}

function writeBlock(buf: Buffer, at: number, block: common.VectorBlock, layout: BlockLayout) {
  if (block.encoding !== 0) {
    buf[at++] = 8;
    at = writeVarint(buf, at, block.encoding);
  }
  if (block.dim !== 0) {
    buf[at++] = 16;
    at = writeVarint(buf, at, block.dim);
  }
  if (block.count !== 0) {
    buf[at++] = 24;
    at = writeVarint(buf, at, block.count);
  }
  if (block.data.length !== 0) {
    buf[at++] = 34;
    at = writeVarint(buf, at, block.data.length);
    buf.set(block.data, at);
    at += block.data.length;
  }
  if (layout.codecBytes !== 0) at = writeString(buf, at, 42, block.codec, layout.codecBytes);
  return at;
}

function finished(buf: Buffer, at: number): Buffer {
  if (at !== buf.length)
    throw new Error(`response serializer wrote ${at} of ${buf.length} bytes (a size bug)`);
  return buf;
}

/** LookupResponse { 1 model, 2 version, 3 table, 4 rows }: ts-proto's bytes. */
export function serializeLookupResponse(message: store.LookupResponse): Buffer {
  const modelBytes = Buffer.byteLength(message.model, 'utf8');
  const versionBytes = Buffer.byteLength(message.version, 'utf8');
  const tableBytes = Buffer.byteLength(message.table, 'utf8');
  const rows = message.rows;
  const layout = rows === undefined ? undefined : blockLayout(rows);
  let size = 0;
  if (modelBytes !== 0) size += delimited(modelBytes);
  if (versionBytes !== 0) size += delimited(versionBytes);
  if (tableBytes !== 0) size += delimited(tableBytes);
  // ts-proto writes a present sub-message even when it is empty (tag + length 0).
  if (layout !== undefined) size += delimited(layout.size);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (modelBytes !== 0) at = writeString(buf, at, 10, message.model, modelBytes);
  if (versionBytes !== 0) at = writeString(buf, at, 18, message.version, versionBytes);
  if (tableBytes !== 0) at = writeString(buf, at, 26, message.table, tableBytes);
  if (rows !== undefined && layout !== undefined) {
    buf[at++] = 34;
    at = writeVarint(buf, at, layout.size);
    at = writeBlock(buf, at, rows, layout);
  }
  return finished(buf, at);
}

/** A message's size, and how to write it at an offset (so that it can be embedded, no copy). */
interface Sized {
  size: number;
  write(buf: Buffer, at: number): number;
}

/** BatchLookupResponse { 1 model, 2 version, 3 repeated TableRows { 1 table, 2 rows } }. */
function batchLookupResponse(message: store.BatchLookupResponse): Sized {
  const modelBytes = Buffer.byteLength(message.model, 'utf8');
  const versionBytes = Buffer.byteLength(message.version, 'utf8');
  const tables = message.tables;
  const tableNameBytes = new Array<number>(tables.length);
  const layouts = new Array<BlockLayout | undefined>(tables.length);
  const entrySizes = new Array<number>(tables.length);
  let size = 0;
  if (modelBytes !== 0) size += delimited(modelBytes);
  if (versionBytes !== 0) size += delimited(versionBytes);
  for (let i = 0; i < tables.length; i += 1) {
    const entry = tables[i] as store.TableRows;
    const nameBytes = Buffer.byteLength(entry.table, 'utf8');
    const layout = entry.rows === undefined ? undefined : blockLayout(entry.rows);
    let entrySize = 0;
    if (nameBytes !== 0) entrySize += delimited(nameBytes);
    if (layout !== undefined) entrySize += delimited(layout.size);
    tableNameBytes[i] = nameBytes;
    layouts[i] = layout;
    entrySizes[i] = entrySize;
    size += delimited(entrySize);
  }
  const write = (buf: Buffer, start: number) => {
    let at = start;
    if (modelBytes !== 0) at = writeString(buf, at, 10, message.model, modelBytes);
    if (versionBytes !== 0) at = writeString(buf, at, 18, message.version, versionBytes);
    for (let i = 0; i < tables.length; i += 1) {
      const entry = tables[i] as store.TableRows;
      buf[at++] = 26;
      at = writeVarint(buf, at, entrySizes[i] as number);
      const nameBytes = tableNameBytes[i] as number;
      if (nameBytes !== 0) at = writeString(buf, at, 10, entry.table, nameBytes);
      const layout = layouts[i];
      if (entry.rows !== undefined && layout !== undefined) {
        buf[at++] = 18;
        at = writeVarint(buf, at, layout.size);
        at = writeBlock(buf, at, entry.rows, layout);
      }
    }
    return at;
  };
  return { size, write };
}

export function serializeBatchLookupResponse(message: store.BatchLookupResponse): Buffer {
  const sized = batchLookupResponse(message);
  const buf = Buffer.allocUnsafe(sized.size);
  return finished(buf, sized.write(buf, 0));
}

/**
 * LookupStreamResponse { 1 request_id, 2 status_code, 3 status_message, 4 lookup, 5 search }, the
 * lookup's rows written once, in place.
 */
export function serializeLookupStreamResponse(message: store.LookupStreamResponse): Buffer {
  const messageBytes = Buffer.byteLength(message.statusMessage, 'utf8');
  const lookup = message.lookup === undefined ? undefined : batchLookupResponse(message.lookup);
  let size = 0;
  if (message.requestId !== 0) size += 1 + varintSize(message.requestId);
  if (message.statusCode !== 0) size += 1 + varintSize(message.statusCode);
  if (messageBytes !== 0) size += delimited(messageBytes);
  if (lookup !== undefined) size += delimited(lookup.size);
  // A Search answer is small (k ids and scores per query): ts-proto writes it.
  const search =
    message.search === undefined ? undefined : store.SearchResponse.encode(message.search).finish();
  if (search !== undefined) size += delimited(search.length);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (message.requestId !== 0) {
    buf[at++] = 8;
    at = writeVarint(buf, at, message.requestId);
  }
  if (message.statusCode !== 0) {
    buf[at++] = 16;
    at = writeVarint(buf, at, message.statusCode);
  }
  if (messageBytes !== 0) at = writeString(buf, at, 26, message.statusMessage, messageBytes);
  if (lookup !== undefined) {
    buf[at++] = 34;
    at = writeVarint(buf, at, lookup.size);
    at = lookup.write(buf, at);
  }
  if (search !== undefined) {
    buf[at++] = 42;
    at = writeVarint(buf, at, search.length);
    buf.set(search, at);
    at += search.length;
  }
  return finished(buf, at);
}
