import { TINY_CORPUS } from '../__fixtures__/tiny-corpus';
import { EncoderError, LsaEncoder } from './lsa-encoder';
import { tokenize } from './tokenize';

const texts = TINY_CORPUS.map((p) => p.text);

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 1) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Index of the passage vector closest to `q` (inner product; rows of `m`, `dim` each). */
function nearest(m: Float32Array, dim: number, q: Float32Array): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let i = 0; i < m.length / dim; i += 1) {
    const s = dot(m.subarray(i * dim, (i + 1) * dim), q);
    if (s > bestScore) [best, bestScore] = [i, s];
  }
  return best;
}

describe('tokenize', () => {
  it('lower-cases, splits on anything but letters and digits, drops stop words on request', () => {
    expect(tokenize('The B-tree’s Ünïcode, 42.195 km!')).toEqual([
      'the',
      'b',
      'tree',
      's',
      'ünïcode',
      '42',
      '195',
      'km',
    ]);
    expect(
      tokenize('What is the index of a table?', new Set(['what', 'is', 'the', 'of', 'a'])),
    ).toEqual(['index', 'table']);
  });
});

describe('LsaEncoder', () => {
  const encoder = LsaEncoder.fit(texts, { dim: 256 });
  const passages = encoder.encodeAll(texts);

  it('caps the dimension at the number of passages and makes unit vectors', () => {
    expect(encoder.dim).toBe(texts.length);
    for (let i = 0; i < texts.length; i += 1) {
      const v = passages.subarray(i * encoder.dim, (i + 1) * encoder.dim);
      expect(Math.sqrt(dot(v, v))).toBeCloseTo(1, 5);
    }
  });

  it('is deterministic: the same corpus and seed give identical bytes', () => {
    const again = LsaEncoder.fit(texts, { dim: 256 });
    expect(Buffer.from(again.toBytes()).equals(Buffer.from(encoder.toBytes()))).toBe(true);
    const other = LsaEncoder.fit(texts, { dim: 256, seed: 7 });
    expect(Buffer.from(other.toBytes()).equals(Buffer.from(encoder.toBytes()))).toBe(false);
  });

  it("finds a passage first when the query is that passage's text", () => {
    texts.forEach((text, i) =>
      expect(nearest(passages, encoder.dim, encoder.encode(text))).toBe(i),
    );
  });

  it('finds the passage that answers each question', () => {
    const hits = TINY_CORPUS.filter(
      (p, i) => nearest(passages, encoder.dim, encoder.encode(p.question)) === i,
    );
    expect(hits.length).toBe(TINY_CORPUS.length);
  });

  it('reduces the dimension below the corpus rank when asked, still finding exact texts', () => {
    const small = LsaEncoder.fit(texts, { dim: 12 });
    expect(small.dim).toBe(12);
    const m = small.encodeAll(texts);
    const found = texts.filter((t, i) => nearest(m, 12, small.encode(t)) === i).length;
    expect(found).toBeGreaterThanOrEqual(18);
  });

  it('round-trips through its file, and encodes identically after loading', () => {
    const loaded = LsaEncoder.fromBytes(encoder.toBytes());
    const question = TINY_CORPUS[3]?.question ?? '';
    expect(Array.from(loaded.encode(question))).toEqual(Array.from(encoder.encode(question)));
  });

  it('returns a zero vector for text without a known term and says so', () => {
    expect(encoder.knowsAnyTerm('zzz qqq')).toBe(false);
    expect(Array.from(encoder.encode('zzz qqq')).every((x) => x === 0)).toBe(true);
    expect(encoder.knowsAnyTerm('the glaciers')).toBe(true);
  });

  it('refuses an empty corpus and a damaged file', () => {
    expect(() => LsaEncoder.fit([])).toThrow(EncoderError);
    expect(() => LsaEncoder.fit(['the of a'])).toThrow(/no term/);
    const file = encoder.toFile();
    const bad = new TextEncoder().encode(
      JSON.stringify({ ...file, components: file.components.slice(0, 40) }),
    );
    expect(() => LsaEncoder.fromBytes(bad)).toThrow(/components hold/);
    expect(() => LsaEncoder.fromBytes(new TextEncoder().encode('{'))).toThrow(/not JSON/);
  });
});
