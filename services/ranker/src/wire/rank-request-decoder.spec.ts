import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { ranker } from '@embpress/proto';
import { decodeRankRequest, PackedStrings, type RankRequestIn } from './rank-request-decoder';

/** The decoded request with packed values as strings: comparable with ts-proto's. */
function plain(request: RankRequestIn): ranker.RankRequest {
  return {
    ...request,
    columns: request.columns.map((c) => ({
      name: c.name,
      numeric: [...c.numeric],
      categorical: Array.from({ length: c.categorical.length }, (_, i) => {
        const values = c.categorical;
        return values instanceof PackedStrings ? values.at(i) : (values[i] as string);
      }),
    })),
  };
}

/** A small deterministic generator (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const TEXTS = ['', 'a', '68fd1e64', 'é', '日本', '\u{1F600}', '\uFEFFbom', ' x ', 'x'.repeat(300)];

function randomRequest(r: () => number): ranker.RankRequest {
  const text = () => TEXTS[Math.floor(r() * TEXTS.length)] as string;
  const size = Math.floor(r() * 5);
  const feature = (): ranker.Feature =>
    r() < 0.5
      ? { name: text(), value: { $case: 'categorical', value: text() } }
      : { name: text(), value: { $case: 'numeric', value: r() * 100 - 50 } };
  return {
    model: text(),
    version: text(),
    context: Array.from({ length: Math.floor(r() * 3) }, feature),
    candidates: Array.from({ length: Math.floor(r() * 2) }, () => ({
      id: text(),
      features: Array.from({ length: Math.floor(r() * 3) }, feature),
    })),
    candidateIds: Array.from({ length: size }, text),
    columns: Array.from({ length: Math.floor(r() * 4) }, () =>
      r() < 0.5
        ? { name: text(), numeric: Array.from({ length: size }, () => r() * 1e6), categorical: [] }
        : { name: text(), numeric: [], categorical: Array.from({ length: size }, text) },
    ),
  };
}

describe('decodeRankRequest', () => {
  it('reads what ts-proto reads, on random requests', () => {
    const r = rng(7);
    for (let i = 0; i < 500; i += 1) {
      const request = randomRequest(r);
      const bytes = ranker.RankRequest.encode(request).finish();
      expect(plain(decodeRankRequest(bytes))).toEqual(ranker.RankRequest.decode(bytes));
    }
  });

  it('keeps categorical values as byte ranges of the message', () => {
    const bytes = ranker.RankRequest.encode({
      model: 'm',
      version: '',
      context: [],
      candidates: [],
      candidateIds: ['a', 'b'],
      columns: [{ name: 'C1', numeric: [], categorical: ['68fd1e64', ''] }],
    }).finish();
    const values = decodeRankRequest(bytes).columns[0]?.categorical as PackedStrings;
    expect(values).toBeInstanceOf(PackedStrings);
    expect(values.bytes).toBe(bytes);
    expect(values.length).toBe(2);
    expect(values.at(0)).toBe('68fd1e64');
    expect(values.at(1)).toBe('');
  });

  it('reads unpacked doubles, repeated fields, unknown fields and malformed UTF-8 as ts-proto does', () => {
    const w = new BinaryWriter();
    w.uint32((1 << 3) | 2).string('first');
    w.uint32((1 << 3) | 2).string('model'); // the last one wins
    w.uint32((99 << 3) | 0).uint64(12345); // unknown varint
    w.uint32((98 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // unknown bytes
    w.uint32((6 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string('I1');
    w.uint32((2 << 3) | 1).double(1.5); // unpacked
    w.uint32((2 << 3) | 2)
      .fork()
      .double(2.5)
      .double(NaN)
      .join(); // packed after unpacked
    w.uint32((3 << 3) | 2).bytes(new Uint8Array([0xff, 0x61])); // not UTF-8
    w.uint32((3 << 3) | 2).bytes(new Uint8Array([0xe6, 0x97])); // truncated sequence
    w.uint32((7 << 3) | 5).fixed32(9); // unknown in the column
    w.join();
    w.uint32((5 << 3) | 2).string('c1');
    const bytes = w.finish();
    const ours = plain(decodeRankRequest(bytes));
    expect(ours).toEqual(ranker.RankRequest.decode(bytes));
    expect(ours.columns[0]?.categorical).toEqual(['\uFFFDa', '\uFFFD']);
    expect(ours.columns[0]?.numeric).toEqual([1.5, 2.5, NaN]);
  });

  it('sizes a column by its fields: unknown fields of every wire type, a packed run read past its end', () => {
    const w = new BinaryWriter();
    w.uint32((1 << 3) | 2).string('m');
    w.uint32((6 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string('C1');
    w.uint32((3 << 3) | 2).string('a');
    w.uint32((9 << 3) | 0).uint64(1); // unknown varint
    w.uint32((9 << 3) | 0).raw(new Uint8Array([...new Array<number>(10).fill(0xff), 1])); // 11 bytes
    w.uint32((9 << 3) | 1).fixed64(2); // unknown 64-bit
    w.uint32((9 << 3) | 3); // unknown group ...
    w.uint32((1 << 3) | 0).uint32(7);
    w.uint32((9 << 3) | 4); // ... ends
    w.uint32((3 << 3) | 2).string('b');
    w.join();
    w.uint32((6 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string('I1');
    // 12 bytes of packed doubles: the second double reads 4 bytes past the run, into the
    // categorical value after it, which is then never read as one (as in ts-proto).
    w.uint32((2 << 3) | 2).bytes(
      new Uint8Array([...new Uint8Array(new Float64Array([2.5]).buffer), 0, 0, 0, 0]),
    );
    w.uint32((3 << 3) | 2).string('zz');
    w.uint32((2 << 3) | 1).double(4);
    w.join();
    const bytes = w.finish();
    const ours = plain(decodeRankRequest(bytes));
    expect(ours).toEqual(ranker.RankRequest.decode(bytes));
    expect(ours.columns[0]?.categorical).toEqual(['a', 'b']);
    expect(ours.columns[1]?.numeric).toHaveLength(3);
    expect(ours.columns[1]?.categorical).toEqual([]);
  });

  it('throws where ts-proto throws, and agrees where it does not, on truncated and corrupted bytes', () => {
    const r = rng(11);
    let thrown = 0;
    for (let i = 0; i < 300; i += 1) {
      const good = ranker.RankRequest.encode(randomRequest(r)).finish();
      const bad = good.slice(0, Math.floor(r() * good.length));
      if (bad.length > 0 && r() < 0.5) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
      let theirs: ranker.RankRequest | Error;
      try {
        theirs = ranker.RankRequest.decode(bad);
      } catch (err) {
        theirs = err as Error;
      }
      if (theirs instanceof Error) {
        thrown += 1;
        expect(() => decodeRankRequest(bad)).toThrow();
      } else {
        expect(plain(decodeRankRequest(bad))).toEqual(theirs);
      }
    }
    expect(thrown).toBeGreaterThan(50);
  });
});
