import { describeTrainableConformance } from '../conformance/suite';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { registry } from '../methods';
import { hash, hashRows } from './hash';

const small: TableShape = { fields: [40, 9, 300], dim: 8 };
describeTrainableConformance({ spec: 'hash(budget=0.3)', shape: small });
describeTrainableConformance({ spec: 'hash(rows=17)', shape: small });

const make = (shape: TableShape, rows: number) =>
  hash.createTrainable(
    shape,
    { rows },
    { seed: 1, optimizer: new SparseOptimizer({ kind: 'sgd', lr: 1 }) },
  );

describe('hash', () => {
  it('defaults to the reference cr 0.5 and takes rows or budget, not both', () => {
    expect(registry.resolve('hash').spec).toBe('hash(budget=0.5)');
    expect(registry.resolve('hash(rows=12)').spec).toBe('hash(rows=12)');
    expect(() => registry.resolve('hash(rows=12,budget=0.5)')).toThrow(SpecError);
    expect(() => registry.resolve('hash(rows=0)')).toThrow(SpecError);
    expect(() => registry.resolve('hash(seed=1)')).toThrow(SpecError);
    // budget: m = ⌈n·cr⌉ on the shape (349 · 0.3 = 104.7 → 105).
    expect(hashRows(small, { budget: 0.3 })).toBe(105);
    expect(() => hashRows(small, { rows: 350 })).toThrow(SpecError);
  });

  it('reads row (global id mod m): ids congruent mod m share a row and its gradient', () => {
    const shape = { fields: [4, 3], dim: 2 };
    const t = make(shape, 5);
    const [p] = t.parameters();
    p?.data.set([0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
    const out = new Float32Array(3 * 2);
    t.forward(Uint32Array.of(2, 6, 4), out);
    expect([...out]).toEqual([20, 21, 10, 11, 40, 41]);
    const [g] = t.gradients(Uint32Array.of(2, 6, 1), Float32Array.of(1, 2, 3, 4, 5, 6));
    expect([...(g?.rows ?? [])]).toEqual([2, 1]);
    expect([...(g?.values ?? [])]).toEqual([1, 2, 8, 10]);
  });

  it('reproduces the reference rows (paper words): m = ⌈n·cr⌉', () => {
    const rows = (shape: TableShape, cr: number) =>
      hash.paramsForBudget?.(shape, cr, 'paper-words');
    expect(rows(CRITEO_SHAPE, 0.5)).toEqual({ rows: 16_881_289 });
    expect(rows(CRITEO_SHAPE, 0.1)).toEqual({ rows: 3_376_258 });
    expect(rows(AVAZU_SHAPE, 0.5)).toEqual({ rows: 4_724_723 });
    expect(rows(AVAZU_SHAPE, 0.1)).toEqual({ rows: 944_945 });
    // The budget parameter applies the same rule, and words are rows · D.
    expect(hashRows(CRITEO_SHAPE, { budget: 0.1 })).toBe(3_376_258);
    expect(hash.paperWords(CRITEO_SHAPE, { rows: 3_376_258 })).toBe(3_376_258 * 16);
  });

  it('meets a byte budget with the most rows that fit', () => {
    for (const shape of [CRITEO_SHAPE, AVAZU_SHAPE, small]) {
      for (const budget of [1, 0.5, 0.3, 0.1, 0.01]) {
        const p = hash.paramsForBudget?.(shape, budget) ?? {};
        const bytes = hash.estimateBytes(shape, p);
        expect(bytes).toBeLessThanOrEqual(budget * fullBytes(shape));
        expect(bytes + shape.dim * 4).toBeGreaterThan(budget * fullBytes(shape));
      }
    }
    expect(hash.paramsForBudget?.(CRITEO_SHAPE, 0.5)).toEqual({ rows: 16_881_288 });
    expect(hash.paramsForBudget?.(small, 1)).toEqual({ rows: totalRows(small) });
  });
});
