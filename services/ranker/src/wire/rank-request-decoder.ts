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
const WIRE_LEN = 2;
const WIRE_I64 = 1;
const END_GROUP = 4;

/**
 * One FeatureColumn ending at `end` (`buf`: the bytes the reader reads). Like ts-proto's nested decode, every read is bounded by the
 * whole message (not `end`), and an end-group tag stops the column where it is.
 */
function decodeColumn(reader: BinaryReader, buf: Uint8Array, end: number): FeatureColumnIn {
  let name = '';
  const numeric: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      name = reader.string();
    } else if (field === 2 && wire === WIRE_I64) {
      numeric.push(reader.double());
    } else if (field === 2 && wire === WIRE_LEN) {
      const packedEnd = reader.uint32() + reader.pos;
      while (reader.pos < packedEnd) numeric.push(reader.double());
    } else if (field === 3 && wire === WIRE_LEN) {
      const len = reader.uint32();
      const start = reader.pos;
      reader.pos += len;
      if (reader.pos > reader.len) throw new RangeError('premature EOF');
      starts.push(start);
      ends.push(start + len);
    } else {
      if (wire === END_GROUP || tag === 0) break;
      reader.skip(wire);
    }
  }
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
