// A hand-written decoder for RankRequest, the ranker's one hot request (issue #11: a Rank of 100
// candidates in a few ms of CPU). It reads the same messages as ts-proto's `RankRequest.decode`
// (proven on random and edge-case messages in rank-request-decoder.spec.ts) with one difference:
// the categorical values of a column (2,600 strings in a 100-candidate Criteo-shaped request) are
// not turned into JS strings. They stay as [start, end) ranges of the message's bytes
// (`PackedStrings`), which the feature mapping looks up by their UTF-8 bytes
// (domain/utf8-index.ts). Making and then hashing those strings was most of the decode's cost:
// in the ranker's profile the decode went from ~3.5% to ~1% of its busy time (docs/benchmarks.md,
// "The ranker's request path").
//
// Everything else (model, version, the rows form's context and candidates, candidate ids, column
// names and numeric values) is decoded into the same values ts-proto gives, by ts-proto's own
// sub-message decoders where a message nests.
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { ranker } from '@embpress/proto';

/** ts-proto decodes non-strictly: malformed UTF-8 becomes U+FFFD, a leading U+FEFF stays text. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The strings of a repeated string field kept as byte ranges of the message they came in: value i
 * is the UTF-8 text of bytes[starts[i], ends[i]). `at(i)` gives the string ts-proto would have.
 */
export class PackedStrings {
  constructor(
    readonly bytes: Uint8Array,
    readonly starts: readonly number[],
    readonly ends: readonly number[],
  ) {}

  get length(): number {
    return this.starts.length;
  }

  at(i: number): string {
    return utf8.decode(this.bytes.subarray(this.starts[i], this.ends[i]));
  }
}

/** A column's categorical values: strings (ts-proto, in-process callers) or packed bytes. */
export type CategoricalValues = readonly string[] | PackedStrings;

/** What the ranker reads of a FeatureColumn (ts-proto's type is assignable to it). */
export interface FeatureColumnIn {
  name: string;
  numeric: readonly number[];
  categorical: CategoricalValues;
}

/** What the ranker reads of a RankRequest (ts-proto's type is assignable to it). */
export interface RankRequestIn {
  model: string;
  version: string;
  context: ranker.Feature[];
  candidates: ranker.Candidate[];
  candidateIds: string[];
  columns: FeatureColumnIn[];
}

// Wire types and the tags of the fields read here (field number << 3 | wire type).
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;
const END_GROUP = 4;

/**
 * Skips one value as BinaryReader.skip does (`buf`: the bytes the reader reads), without the view
 * of the skipped bytes that it returns. A varint is skipped byte by byte, however long, as skip
 * does (reading it as a number would refuse one of more than 10 bytes, which skip accepts).
 */
function skipValue(reader: BinaryReader, buf: Uint8Array, wire: number): void {
  if (wire === WIRE_LEN) {
    const length = reader.uint32();
    reader.pos += length;
  } else if (wire === WIRE_I64) reader.pos += 8;
  else if (wire === WIRE_VARINT) while (((buf[reader.pos++] ?? 0) & 0x80) !== 0);
  else if (wire === WIRE_I32) reader.pos += 4;
  else reader.skip(wire);
}

/**
 * How many numeric and categorical values a column's fields hold: the capacity decodeColumn
 * allocates, exact for a well-formed column (a malformed one is decoded the same, only with a
 * capacity that may be off).
 */
function countValues(
  reader: BinaryReader,
  buf: Uint8Array,
  end: number,
): { numeric: number; categorical: number } {
  const from = reader.pos;
  let numeric = 0;
  let categorical = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === END_GROUP || tag === 0) break;
    if (field === 2 && wire === WIRE_I64) numeric += 1;
    // A packed run's last double may start inside it and end past it (read as decodeColumn does).
    else if (field === 2 && wire === WIRE_LEN) {
      const length = reader.uint32();
      numeric += Math.ceil(length / 8);
      reader.pos += length;
      continue;
    } else if (field === 3 && wire === WIRE_LEN) categorical += 1;
    skipValue(reader, buf, wire);
  }
  reader.pos = from;
  return { numeric, categorical };
}

/**
 * One FeatureColumn ending at `end` (`buf`: the bytes the reader reads). Like ts-proto's nested
 * decode, every read is bounded by the whole message (not `end`), and an end-group tag stops the
 * column where it is.
 *
 * The value arrays are sized by a first pass over the column's tags: grown by push, they were
 * copied as they grew, and that was half of the ranker's garbage per request (docs/benchmarks.md).
 */
function decodeColumn(reader: BinaryReader, buf: Uint8Array, end: number): FeatureColumnIn {
  const counts = countValues(reader, buf, end);
  let name = '';
  const numeric = new Array<number>(counts.numeric);
  const starts = new Array<number>(counts.categorical);
  const ends = new Array<number>(counts.categorical);
  let n = 0;
  let c = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      name = reader.string();
    } else if (field === 2 && wire === WIRE_I64) {
      numeric[n++] = reader.double();
    } else if (field === 2 && wire === WIRE_LEN) {
      const packedEnd = reader.uint32() + reader.pos;
      while (reader.pos < packedEnd) numeric[n++] = reader.double();
    } else if (field === 3 && wire === WIRE_LEN) {
      const len = reader.uint32();
      const start = reader.pos;
      reader.pos += len;
      if (reader.pos > reader.len) throw new RangeError('premature EOF');
      starts[c] = start;
      ends[c++] = start + len;
    } else {
      if (wire === END_GROUP || tag === 0) break;
      reader.skip(wire);
    }
  }
  // Exact for a well-formed column; trimmed all the same (a packed run that overran its length).
  numeric.length = n;
  starts.length = c;
  ends.length = c;
  return { name, numeric, categorical: new PackedStrings(buf, starts, ends) };
}

/** Decodes a RankRequest; throws (RangeError, Error) on bytes that are not one, as ts-proto does. */
export function decodeRankRequest(bytes: Uint8Array): RankRequestIn {
  const reader = new BinaryReader(bytes);
  const request: RankRequestIn = {
    model: '',
    version: '',
    context: [],
    candidates: [],
    candidateIds: [],
    columns: [],
  };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_LEN && field >= 1 && field <= 6) {
      switch (field) {
        case 1:
          request.model = reader.string();
          continue;
        case 2:
          request.version = reader.string();
          continue;
        case 3:
          request.context.push(ranker.Feature.decode(reader, reader.uint32()));
          continue;
        case 4:
          request.candidates.push(ranker.Candidate.decode(reader, reader.uint32()));
          continue;
        case 5:
          request.candidateIds.push(reader.string());
          continue;
        default:
          request.columns.push(decodeColumn(reader, bytes, reader.uint32() + reader.pos));
          continue;
      }
    }
    if (wire === END_GROUP || tag === 0) break;
    reader.skip(wire);
  }
  return request;
}
