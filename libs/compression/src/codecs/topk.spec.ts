import { Rng } from '../core/rng';
import { exactSearch, planSearch, TopK } from './topk';

/** Reference: sort all (id, score) by score desc, then id asc. */
function bestBySort(scores: number[], k: number): number[] {
  return scores
    .map((s, id) => ({ s, id }))
    .sort((a, b) => b.s - a.s || a.id - b.id)
    .slice(0, k)
    .map((x) => x.id);
}

describe('TopK', () => {
  it('keeps the k best, best first, ties to the smaller id, in any push order', () => {
    const rng = new Rng(3);
    for (const [count, k] of [
      [100, 10],
      [7, 7],
      [5, 9],
      [1000, 1],
    ] as const) {
      // Few distinct values: many ties.
      const scores = Array.from({ length: count }, () => rng.int(0, 20));
      const order = Array.from({ length: count }, (_, i) => i);
      const shuffled = [...order];
      for (let i = shuffled.length - 1; i > 0; i -= 1) {
        const j = rng.int(0, i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j] as number, shuffled[i] as number];
      }
      for (const pushOrder of [order, [...order].reverse(), shuffled]) {
        const heap = new TopK(k);
        for (const id of pushOrder) heap.push(id, scores[id] as number);
        const ids = new Uint32Array(k);
        const out = new Float32Array(k);
        const n = heap.drain(ids, out, 0, false);
        const expected = bestBySort(scores, k);
        expect(n).toBe(expected.length);
        expect([...ids.subarray(0, n)]).toEqual(expected);
        expect([...out.subarray(0, n)]).toEqual(expected.map((id) => scores[id]));
      }
    }
  });

  it('reports its threshold and negates on drain for L2', () => {
    const heap = new TopK(2);
    expect(heap.threshold).toBe(-Infinity);
    heap.push(0, -3);
    heap.push(1, -1);
    heap.push(2, -2);
    expect(heap.threshold).toBe(-2);
    const ids = new Uint32Array(4);
    const scores = new Float32Array(4);
    heap.drain(ids, scores, 2, true);
    expect([...ids]).toEqual([0, 0, 1, 2]);
    expect([...scores]).toEqual([0, 0, 1, 2]);
    expect(heap.threshold).toBe(-Infinity);
  });
});

describe('planSearch / exactSearch', () => {
  it('rejects bad arguments and clamps k to the row count', () => {
    const q = new Float32Array(8);
    expect(() => planSearch('t', q, 3, 10, 1, 'l2')).toThrow(RangeError);
    expect(() => planSearch('t', q, 4, 10, 0, 'l2')).toThrow(RangeError);
    expect(() => planSearch('t', q, 4, 10, 1.5, 'l2')).toThrow(RangeError);
    expect(() => planSearch('t', q, 4, 10, 1, 'cosine' as never)).toThrow(RangeError);
    expect(planSearch('t', q, 4, 10, 50, 'inner-product')).toEqual({ queries: 2, k: 10 });
  });

  it('finds the nearest rows by inner product and by squared L2', () => {
    const table = Float32Array.of(1, 0, 0, 1, -1, 0, 3, 3);
    const hits = exactSearch(table, 2, Float32Array.of(1, 0, 0, 2), 2, 'inner-product');
    expect([...hits.ids]).toEqual([3, 0, 3, 1]);
    expect([...hits.scores]).toEqual([3, 1, 6, 2]);
    const l2 = exactSearch(table, 2, Float32Array.of(0.9, 0.1), 3, 'l2');
    expect([...l2.ids]).toEqual([0, 1, 2]);
    expect(l2.scores[0]).toBeCloseTo(0.02, 6);
  });
});
