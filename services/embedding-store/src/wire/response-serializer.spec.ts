import { common, store } from '@embpress/proto';
import { Rng } from '@embpress/compression';
import {
  serializeBatchLookupResponse,
  serializeLookupResponse,
  serializeLookupStreamResponse,
} from './response-serializer';

const tsProtoLookup = (m: store.LookupResponse) =>
  Buffer.from(store.LookupResponse.encode(m).finish());
const tsProtoBatch = (m: store.BatchLookupResponse) =>
  Buffer.from(store.BatchLookupResponse.encode(m).finish());

// Values at the varint length boundaries, empty (omitted) values, non-ASCII text.
const NAMES = ['', 'm', 'ctr-model', 'émbeddings-表', 'x'.repeat(127), 'y'.repeat(128)];
const NUMBERS = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_456, 2 ** 32 - 1];
const ENCODINGS = [0, 1, 2, 3, 127, 128, -1, -2, -(2 ** 31)];
const DATA_BYTES = [0, 1, 127, 128, 16_384, 70_000];

function pick<T>(rng: Rng, values: readonly T[]): T {
  return values[rng.int(0, values.length)] as T;
}

function block(rng: Rng): common.VectorBlock | undefined {
  if (rng.next() < 0.1) return undefined;
  const data = Buffer.alloc(pick(rng, DATA_BYTES));
  for (let i = 0; i < data.length; i += 97) data[i] = rng.int(0, 256);
  return {
    encoding: pick(rng, ENCODINGS) as common.RowEncoding,
    dim: pick(rng, NUMBERS),
    count: pick(rng, NUMBERS),
    data,
    codec: pick(rng, ['', 'rowwise-int8', 'pq(subvectors=8,bits=8)', 'é']),
  };
}

describe('hand-written response serializers', () => {
  it('LookupResponse: the same bytes as ts-proto, and ts-proto decodes them back', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 500; i += 1) {
      const message: store.LookupResponse = {
        model: pick(rng, NAMES),
        version: pick(rng, NAMES),
        table: pick(rng, NAMES),
        rows: block(rng),
      };
      const ours = serializeLookupResponse(message);
      expect(ours.equals(tsProtoLookup(message))).toBe(true);
      const decoded = store.LookupResponse.decode(ours);
      expect([decoded.model, decoded.version, decoded.table]).toEqual([
        message.model,
        message.version,
        message.table,
      ]);
      expect(
        Buffer.compare(
          decoded.rows?.data ?? Buffer.alloc(0),
          message.rows?.data ?? Buffer.alloc(0),
        ),
      ).toBe(0);
    }
  });

  it('BatchLookupResponse: the same bytes as ts-proto for 0..5 tables', () => {
    const rng = new Rng(12);
    for (let i = 0; i < 300; i += 1) {
      const tables = Array.from({ length: rng.int(0, 6) }, () => ({
        table: pick(rng, NAMES),
        rows: block(rng),
      }));
      const message: store.BatchLookupResponse = {
        model: pick(rng, NAMES),
        version: pick(rng, NAMES),
        tables,
      };
      expect(serializeBatchLookupResponse(message).equals(tsProtoBatch(message))).toBe(true);
    }
  });

  it('LookupStreamResponse: the same bytes as ts-proto, with a lookup, a search or neither', () => {
    const rng = new Rng(13);
    for (let i = 0; i < 300; i += 1) {
      const lookup =
        rng.next() < 0.3
          ? undefined
          : {
              model: pick(rng, NAMES),
              version: pick(rng, NAMES),
              tables: Array.from({ length: rng.int(0, 3) }, () => ({
                table: pick(rng, NAMES),
                rows: block(rng),
              })),
            };
      // A search answer instead, in some of the messages without a lookup.
      const search: store.SearchResponse | undefined =
        lookup === undefined && rng.next() < 0.5
          ? {
              model: pick(rng, NAMES),
              version: pick(rng, NAMES),
              table: pick(rng, NAMES),
              results: Array.from({ length: rng.int(0, 3) }, () => {
                const k = rng.int(0, 5);
                return {
                  ids: Array.from({ length: k }, () => pick(rng, NUMBERS)),
                  scores: Array.from({ length: k }, () => Math.fround(rng.next() - 0.5)),
                };
              }),
            }
          : undefined;
      const message: store.LookupStreamResponse = {
        requestId: pick(rng, NUMBERS),
        statusCode: pick(rng, [0, 3, 5, 8, 14]),
        statusMessage: pick(rng, NAMES),
        lookup,
        search,
      };
      const ours = serializeLookupStreamResponse(message);
      expect(ours.equals(Buffer.from(store.LookupStreamResponse.encode(message).finish()))).toBe(
        true,
      );
    }
  });

  it('a realistic response: 512 int8 rows of dim 16', () => {
    const data = Buffer.alloc(512 * 20, 7);
    const rows = {
      encoding: common.RowEncoding.ROW_ENCODING_CODES,
      dim: 16,
      count: 512,
      data,
      codec: 'rowwise-int8',
    };
    const lookup = { model: 'bench-int8', version: 'v1', table: 'rows', rows };
    expect(serializeLookupResponse(lookup).equals(tsProtoLookup(lookup))).toBe(true);
    const batch = {
      model: 'ctr',
      version: 'v2',
      tables: [
        { table: 'a', rows },
        { table: 'b', rows },
      ],
    };
    expect(serializeBatchLookupResponse(batch).equals(tsProtoBatch(batch))).toBe(true);
  });
});
