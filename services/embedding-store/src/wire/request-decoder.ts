// Hand-written protobuf decoders for the store's two hot requests, LookupRequest and
// BatchLookupRequest. They read the same messages as ts-proto's `decode` (proven on random and
// edge-case messages in request-decoder.spec.ts) with three differences that make a hostile or
// buggy request cheap to refuse (docs/adr/0012-hostile-input.md):
// - ids are counted before they are decoded: a request over the id limit is refused after one
//   pass over its bytes, with nothing allocated (ts-proto built a JS array of every id first:
//   40 requests of 5M ids took the store from 128 MB to 3.2 GB);
// - an id wider than 32 bits is refused, naming the table and the id (ts-proto truncated it, so
//   2^32+5 served row 5);
// - ids land in one Uint32Array, the form the tables take, instead of a number[] copied later.
import { InvalidArgumentError } from '@embpress/service-kit';
import { store } from '@embpress/proto';

/** What the handlers read of a LookupRequest (ts-proto's type is assignable to it). */
export interface LookupRequestIn {
  model: string;
  table: string;
  ids: ArrayLike<number>;
  encoding: number;
  version: string;
}

export interface TableIdsIn {
  table: string;
  ids: ArrayLike<number>;
}

/** What the handlers read of a BatchLookupRequest (ts-proto's type is assignable to it). */
export interface BatchLookupRequestIn {
  model: string;
  tables: TableIdsIn[];
  encoding: number;
  version: string;
}

const UINT32_MAX = 0xffffffff;
/** Most tables in one BatchLookup (also checked by the handler); bounds what decoding allocates. */
export const MAX_TABLES_PER_REQUEST = 4096;

/** A varint or field that runs past its message: the bytes are not a message of this type. */
class TruncatedError extends Error {}

/** A reader over one protobuf message (or a sub-message: [pos, end)). */
class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  /** A varint as a JS number; exact up to 2^53, enough for every length and uint32 here. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i += 1) {
      if (this.pos >= this.end) throw new TruncatedError('truncated varint');
      const byte = this.buf[this.pos++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new TruncatedError('varint longer than 10 bytes');
  }

  /** An int32 field (enums): the low 32 bits of the varint, signed, as protobufjs reads it. */
  int32(): number {
    const start = this.pos;
    this.varint();
    let low = 0;
    for (let i = 0, shift = 0; i < 5 && start + i < this.pos; i += 1, shift += 7)
      low |= ((this.buf[start + i] as number) & 0x7f) << shift;
    return low | 0;
  }

  /** The bounds of a length-delimited field's payload; the reader moves past it. */
  delimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new TruncatedError('length-delimited field truncated');
    this.pos = start + length;
    return [start, this.pos];
  }

  string(): string {
    const [start, end] = this.delimited();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + start, end - start).toString('utf8');
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.delimited();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw new TruncatedError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(bytes: number): void {
    if (this.end - this.pos < bytes) throw new TruncatedError('fixed-width field truncated');
    this.pos += bytes;
  }
}

/** Counts the varints in [start, end): one per byte without the continuation bit. */
function countVarints(buf: Uint8Array, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i += 1) if ((buf[i] as number) < 0x80) count += 1;
  return count;
}

/**
 * The ids of one message (a LookupRequest, or one TableIds), collected in the order the fields
 * came: packed runs (wire type 2, what every encoder writes) and single varints (wire type 0, a
 * parser must accept both). Each id counts against the request's shared budget as it is seen.
 */
class IdCollector {
  private runs: Array<[number, number]> = [];
  private singles: number[] = [];
  private order: Array<'run' | 'single'> = [];
  private count = 0;
  /** First id above 2^32-1: its position among this message's ids, and its value. */
  wide: { index: number; value: string } | undefined;

  constructor(
    private readonly budget: { left: number; limit: number },
    private readonly field: string,
  ) {}

  addPacked(reader: Reader): void {
    const [start, end] = reader.delimited();
    this.take(countVarints(reader.buf, start, end));
    this.runs.push([start, end]);
    this.order.push('run');
  }

  addSingle(reader: Reader): void {
    this.take(1);
    const start = reader.pos;
    const value = reader.varint();
    if (value > UINT32_MAX) this.noteWide(this.count - 1, reader.buf, start, reader.pos);
    this.singles.push(value);
    this.order.push('single');
  }

  private take(n: number): void {
    this.count += n;
    this.budget.left -= n;
    if (this.budget.left < 0)
      throw new InvalidArgumentError(
        this.field,
        `more than the limit of ${this.budget.limit} ids in one request`,
      );
  }

  private noteWide(index: number, buf: Uint8Array, start: number, end: number): void {
    if (this.wide !== undefined) return;
    let value = 0n;
    for (let i = end - 1; i >= start; i -= 1)
      value = (value << 7n) | BigInt((buf[i] as number) & 0x7f);
    this.wide = { index, value: value.toString() };
  }

  ids(buf: Uint8Array): Uint32Array {
    const out = new Uint32Array(this.count);
    let at = 0;
    let run = 0;
    let single = 0;
    for (const kind of this.order) {
      if (kind === 'single') {
        out[at++] = this.singles[single++] as number;
        continue;
      }
      const [start, end] = this.runs[run++] as [number, number];
      const reader = new Reader(buf, start, end);
      while (reader.pos < end) {
        const from = reader.pos;
        const value = reader.varint();
        if (value > UINT32_MAX) this.noteWide(at, buf, from, reader.pos);
        out[at++] = value;
      }
    }
    return out;
  }
}

function wideIdError(field: string, table: string, wide: { index: number; value: string }) {
  return new InvalidArgumentError(
    `${field}[${wide.index}]`,
    `id ${wide.value} is above 2^32-1 (ids are unsigned 32-bit) for table "${table}"`,
  );
}

/** LookupRequest, with at most `maxIds` ids (more: INVALID_ARGUMENT before any id is decoded). */
export function decodeLookupRequest(bytes: Uint8Array, maxIds: number): LookupRequestIn {
  const buf = bytes;
  const reader = new Reader(buf, 0, buf.length);
  const budget = { left: maxIds, limit: maxIds };
  const ids = new IdCollector(budget, 'ids');
  const request: LookupRequestIn = {
    model: '',
    table: '',
    ids: new Uint32Array(0),
    encoding: 0,
    version: '',
  };
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) request.model = reader.string();
    else if (field === 2 && wireType === 2) request.table = reader.string();
    else if (field === 3 && wireType === 2) ids.addPacked(reader);
    else if (field === 3 && wireType === 0) ids.addSingle(reader);
    else if (field === 4 && wireType === 0) request.encoding = reader.int32();
    else if (field === 5 && wireType === 2) request.version = reader.string();
    else reader.skip(wireType);
  }
  request.ids = ids.ids(buf);
  if (ids.wide !== undefined) throw wideIdError('ids', request.table, ids.wide);
  return request;
}

function decodeTableIds(
  buf: Uint8Array,
  start: number,
  end: number,
  index: number,
  budget: { left: number; limit: number },
): TableIdsIn {
  const reader = new Reader(buf, start, end);
  const field = `tables[${index}].ids`;
  const ids = new IdCollector(budget, field);
  let table = '';
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const number = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (number === 1 && wireType === 2) table = reader.string();
    else if (number === 2 && wireType === 2) ids.addPacked(reader);
    else if (number === 2 && wireType === 0) ids.addSingle(reader);
    else reader.skip(wireType);
  }
  const decoded = ids.ids(buf);
  if (ids.wide !== undefined) throw wideIdError(field, table, ids.wide);
  return { table, ids: decoded };
}

/** BatchLookupRequest, with at most `maxIds` ids over all its tables. */
export function decodeBatchLookupRequest(bytes: Uint8Array, maxIds: number): BatchLookupRequestIn {
  const buf = bytes;
  const reader = new Reader(buf, 0, buf.length);
  const budget = { left: maxIds, limit: maxIds };
  const request: BatchLookupRequestIn = { model: '', tables: [], encoding: 0, version: '' };
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) request.model = reader.string();
    else if (field === 2 && wireType === 2) {
      // The shared budget bounds what all tables decode together: at most maxIds ids (4 bytes
      // each) are ever allocated before an oversize request is refused.
      const [start, end] = reader.delimited();
      if (request.tables.length === MAX_TABLES_PER_REQUEST)
        throw new InvalidArgumentError(
          'tables',
          `more than the limit of ${MAX_TABLES_PER_REQUEST} tables in one request`,
        );
      request.tables.push(decodeTableIds(buf, start, end, request.tables.length, budget));
    } else if (field === 3 && wireType === 0) request.encoding = reader.int32();
    else if (field === 4 && wireType === 2) request.version = reader.string();
    else reader.skip(wireType);
  }
  return request;
}

/** For grpc-js: a deserializer that reports malformed bytes as the caller's error. */
export function requestDeserializer<T>(
  decode: (bytes: Uint8Array, maxIds: number) => T,
  maxIds: number,
): (bytes: Buffer) => T {
  return (bytes) => {
    try {
      return decode(bytes, maxIds);
    } catch (err) {
      if (err instanceof TruncatedError)
        throw new InvalidArgumentError(
          'request',
          `is not a valid message of this method (${err.message})`,
        );
      throw err;
    }
  };
}

/**
 * One message of a LookupStream. A lookup that is not valid (over the id limit, a wide id,
 * malformed bytes) fails this message only: it is kept as `refusal`, with the request id, so the
 * answer reaches the caller that sent it; only bytes that are not an envelope at all throw.
 */
export interface LookupStreamRequestIn {
  requestId: number;
  lookup: BatchLookupRequestIn | undefined;
  /** A Search instead of a lookup (decoded by ts-proto: queries are few, ids none). */
  search?: store.SearchRequest | undefined;
  timeoutMs: number;
  traceparent: string;
  refusal?: InvalidArgumentError;
}

export function decodeLookupStreamRequest(
  bytes: Uint8Array,
  maxIds: number,
): LookupStreamRequestIn {
  const reader = new Reader(bytes, 0, bytes.length);
  const request: LookupStreamRequestIn = {
    requestId: 0,
    lookup: undefined,
    timeoutMs: 0,
    traceparent: '',
    refusal: undefined,
  };
  let lookupBounds: [number, number] | undefined;
  let searchBounds: [number, number] | undefined;
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 0) request.requestId = reader.varint() >>> 0;
    else if (field === 2 && wireType === 2) lookupBounds = reader.delimited();
    else if (field === 3 && wireType === 0) request.timeoutMs = reader.varint() >>> 0;
    else if (field === 4 && wireType === 2) request.traceparent = reader.string();
    else if (field === 5 && wireType === 2) searchBounds = reader.delimited();
    else reader.skip(wireType);
  }
  if (searchBounds !== undefined) {
    if (lookupBounds !== undefined)
      request.refusal = new InvalidArgumentError(
        'search',
        'a message carries a lookup or a search, not both',
      );
    else
      try {
        request.search = store.SearchRequest.decode(bytes.subarray(...searchBounds));
      } catch (err) {
        request.refusal = new InvalidArgumentError(
          'search',
          `is not a valid SearchRequest (${(err as Error).message})`,
        );
      }
    return request;
  }
  const [start, end] = lookupBounds ?? [0, 0];
  try {
    request.lookup = decodeBatchLookupRequest(bytes.subarray(start, end), maxIds);
  } catch (err) {
    if (err instanceof TruncatedError)
      request.refusal = new InvalidArgumentError(
        'lookup',
        `is not a valid BatchLookupRequest (${err.message})`,
      );
    else if (err instanceof InvalidArgumentError) request.refusal = err;
    else throw err;
  }
  return request;
}
