// The hand-written request decoders read what ts-proto reads (random and edge-case messages),
// and refuse what ts-proto let through: ids over the limit, ids above 2^32-1, truncated bytes.
import { store } from '@embpress/proto';
import { InvalidArgumentError } from '@embpress/service-kit';
import {
  decodeBatchLookupRequest,
  decodeLookupRequest,
  requestDeserializer,
} from './request-decoder';

/** A tiny deterministic generator (tests must not depend on Math.random). */
function lcg(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const randomId = (next: (n: number) => number) =>
  [0, 1, 127, 128, 16_383, 16_384, 0xffffffff, next(1 << 30) * 4 + next(4)][next(8)] as number;

describe('request decoders', () => {
  it('decode random LookupRequests as ts-proto does', () => {
    const next = lcg(7);
    for (let trial = 0; trial < 300; trial += 1) {
      const message: store.LookupRequest = {
        model: ['', 'ctr', 'm-é'][next(3)] as string,
        table: ['', 't0', 'sparse.fp32'][next(3)] as string,
        ids: Array.from({ length: next(40) }, () => randomId(next)),
        encoding: [0, 1, 2, 3, 7, -1][next(6)] as number,
        version: ['', 'v1'][next(2)] as string,
      };
      const bytes = store.LookupRequest.encode(message).finish();
      const mine = decodeLookupRequest(bytes, 1000);
      const theirs = store.LookupRequest.decode(bytes);
      expect({ ...mine, ids: Array.from(mine.ids) }).toEqual(theirs);
    }
  });

  it('decode random BatchLookupRequests as ts-proto does', () => {
    const next = lcg(11);
    for (let trial = 0; trial < 300; trial += 1) {
      const message: store.BatchLookupRequest = {
        model: ['', 'ctr'][next(2)] as string,
        tables: Array.from({ length: next(5) }, (_, i) => ({
          table: `t${i}`,
          ids: Array.from({ length: next(30) }, () => randomId(next)),
        })),
        encoding: [0, 1, 2, 3][next(4)] as number,
        version: ['', 'v2'][next(2)] as string,
      };
      const bytes = store.BatchLookupRequest.encode(message).finish();
      const mine = decodeBatchLookupRequest(bytes, 1000);
      const theirs = store.BatchLookupRequest.decode(bytes);
      expect({
        ...mine,
        tables: mine.tables.map((t) => ({ table: t.table, ids: Array.from(t.ids) })),
      }).toEqual(theirs);
    }
  });

  it('accept unpacked ids, fields in any order and unknown fields, like any protobuf parser', () => {
    // ids (field 3) as single varints, then an unknown fixed64 (field 9) and string (field 10),
    // then the table (field 2) after its ids.
    const bytes = Uint8Array.from([
      ...[0x18, 5, 0x18, ...varint(300n)],
      ...[0x49, 1, 2, 3, 4, 5, 6, 7, 8],
      ...[0x52, 2, 0x61, 0x62],
      ...[0x12, 1, 0x74],
    ]);
    const decoded = decodeLookupRequest(bytes, 10);
    expect(decoded.table).toBe('t');
    expect(Array.from(decoded.ids)).toEqual([5, 300]);
    expect(store.LookupRequest.decode(bytes).ids).toEqual([5, 300]);
  });

  it('refuse an id above 2^32-1, naming the table, its position and the id', () => {
    // TableIds { table: "age", ids: [7, 2^32 + 5] } (packed) inside a BatchLookupRequest.
    const ids = [...varint(7n), ...varint(2n ** 32n + 5n)];
    const tableIds = [0x0a, 3, ...Buffer.from('age'), 0x12, ids.length, ...ids];
    const bytes = Uint8Array.from([0x0a, 1, 0x6d, 0x12, tableIds.length, ...tableIds]);
    expect(store.BatchLookupRequest.decode(bytes).tables[0]?.ids).toEqual([7, 5]); // ts-proto truncates
    expect(() => decodeBatchLookupRequest(bytes, 10)).toThrow(
      new InvalidArgumentError(
        'tables[0].ids[1]',
        'id 4294967301 is above 2^32-1 (ids are unsigned 32-bit) for table "age"',
      ),
    );
    const single = Uint8Array.from([0x12, 1, 0x74, 0x18, ...varint(2n ** 63n)]);
    expect(() => decodeLookupRequest(single, 10)).toThrow(/ids\[0\].*9223372036854775808.*"t"/);
  });

  it('refuse more ids than the limit over all tables, before decoding them', () => {
    const message = store.BatchLookupRequest.encode({
      model: 'm',
      tables: [
        { table: 'a', ids: [1, 2, 3] },
        { table: 'b', ids: [4, 5] },
      ],
      encoding: 0,
      version: '',
    }).finish();
    expect(decodeBatchLookupRequest(message, 5).tables).toHaveLength(2);
    expect(() => decodeBatchLookupRequest(message, 4)).toThrow(
      /tables\[1\]\.ids: more than the limit of 4 ids/,
    );
    const manyTables = Buffer.alloc(2 * 4097, Buffer.from([0x12, 0])); // 4,097 empty TableIds
    expect(() => decodeBatchLookupRequest(manyTables, 5)).toThrow(
      /more than the limit of 4096 tables/,
    );
    const lookup = store.LookupRequest.encode({
      model: 'm',
      table: 't',
      ids: [1, 2, 3],
      encoding: 0,
      version: '',
    }).finish();
    expect(() => decodeLookupRequest(lookup, 2)).toThrow(/ids: more than the limit of 2 ids/);
  });

  it('report truncated and malformed bytes as an invalid request', () => {
    const decode = requestDeserializer(decodeBatchLookupRequest, 100);
    const good = Buffer.from(
      store.BatchLookupRequest.encode({
        model: 'm',
        tables: [{ table: 'a', ids: [1, 2, 300] }],
        encoding: 1,
        version: 'v',
      }).finish(),
    );
    for (let cut = 1; cut < good.length; cut += 1) {
      let outcome: unknown;
      try {
        outcome = decode(good.subarray(0, cut));
      } catch (err) {
        outcome = err;
      }
      // Either a shorter valid message (a cut between fields) or INVALID_ARGUMENT, never a crash.
      if (outcome instanceof Error) expect(outcome).toBeInstanceOf(InvalidArgumentError);
    }
    expect(() => decode(Buffer.from([0x0a, 50, 1]))).toThrow(InvalidArgumentError);
    expect(() => decode(Buffer.from([0x0b]))).toThrow(/wire type 3/);
    expect(() => decode(Buffer.from(new Array(11).fill(0xff)))).toThrow(/varint/);
  });
});
