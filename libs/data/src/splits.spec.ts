import { chunkSizes, planChunkSplit, planSeparateTest, planTail, rangeRows } from './splits';

describe('splits', () => {
  it("reproduces the paper's Criteo split sizes (docs/methods/reference.md#data)", () => {
    const plan = planChunkSplit(45_840_617);
    expect(rangeRows(plan.train)).toBe(39_291_958);
    expect(rangeRows(plan.test)).toBe(3_274_330);
    expect(rangeRows(plan.validation)).toBe(3_274_329);
    // Test comes first in the last chunk, then validation; both keep file order.
    expect(plan.test).toEqual({ start: 39_291_958, end: 39_291_958 + 3_274_330 });
    expect(plan.validation.end).toBe(45_840_617);
  });

  it('gives the first rows mod 7 chunks one extra row', () => {
    expect(chunkSizes(100, 7)).toEqual([15, 15, 14, 14, 14, 14, 14]);
    expect(planChunkSplit(100)).toEqual({
      rows: 100,
      train: { start: 0, end: 86 },
      test: { start: 86, end: 93 },
      validation: { start: 93, end: 100 },
    });
    // 23 rows: chunks 4,4,3,3,3,3,3 -> train 20; last chunk 3 -> test 2 (half rounded up), val 1.
    expect(planChunkSplit(23)).toMatchObject({
      train: { end: 20 },
      test: { end: 22 },
      validation: { end: 23 },
    });
    for (let n = 0; n <= 300; n += 1) {
      const p = planChunkSplit(n);
      expect(rangeRows(p.train) + rangeRows(p.test) + rangeRows(p.validation)).toBe(n);
      expect(p.test?.start).toBe(p.train.end);
      expect(p.validation.start).toBe(p.test?.end);
      expect(rangeRows(p.train)).toBe(n - Math.floor(n / 7));
    }
  });

  it("reproduces the paper's Avazu split (last day: test then validation)", () => {
    const plan = planTail(40_428_967, 4_218_938);
    expect([rangeRows(plan.train), rangeRows(plan.test), rangeRows(plan.validation)]).toEqual([
      36_210_029, 2_109_469, 2_109_469,
    ]);
  });

  it('with a separate test file keeps the last fraction of train rows for validation', () => {
    expect(planSeparateTest(8000)).toEqual({
      rows: 8000,
      train: { start: 0, end: 7200 },
      validation: { start: 7200, end: 8000 },
      test: undefined,
    });
    expect(rangeRows(planSeparateTest(10, 0).validation)).toBe(0);
  });

  it('refuses impossible plans', () => {
    expect(() => planTail(10, 11)).toThrow(/does not fit/);
    expect(() => planChunkSplit(-1)).toThrow(/non-negative/);
    expect(() => chunkSizes(10, 1)).toThrow(/chunks/);
    expect(() => planSeparateTest(10, 1)).toThrow(/validationFraction/);
  });
});
