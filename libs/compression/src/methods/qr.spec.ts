import { describeTrainableConformance } from '../conformance/suite';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { BudgetError, SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { registry } from '../methods';
import { qr, qrCompresses, qrLayout, qrRows, type QrParams } from './qr';

// c = 4: fields 40, 9 and 300 are compressed; 3 (≤ c) and 5 (⌈5/4⌉ + 4 = 6 > 5) stay full.
const small: TableShape = { fields: [40, 9, 300, 3, 5], dim: 8 };
describeTrainableConformance({ spec: 'qr(collisions=4)', shape: small });
describeTrainableConformance({ spec: 'qr(collisions=4,aggregator=sum)', shape: small });

const make = (shape: TableShape, p: QrParams) =>
  qr.createTrainable(shape, p, {
    seed: 1,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr: 1 }),
  });

describe('qr', () => {
  it('has canonical specs with defaults c = 2, mul', () => {
    expect(registry.resolve('qr').spec).toBe('qr(collisions=2,aggregator=mul)');
    expect(() => registry.resolve('qr(collisions=0)')).toThrow(SpecError);
    expect(() => registry.resolve('qr(aggregator=concat)')).toThrow(SpecError);
  });

  it('compresses a field only when it saves rows (the reference rule)', () => {
    expect([40, 9, 300, 3, 5].map((n) => qrCompresses(n, 4))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    // 10 + 4, 3 + 4, 75 + 4, 3, 5
    expect(qrRows(small, 4)).toBe(14 + 7 + 79 + 3 + 5);
    expect(qrRows(small, 1)).toBe(totalRows(small)); // c = 1 is the full table
    const layout = qrLayout(small, 4);
    expect([...layout.compressed]).toEqual([1, 1, 1, 0, 0]);
    expect([...layout.qBase]).toEqual([0, 14, 21, 100, 103]);
    expect([...layout.rBase.subarray(0, 3)]).toEqual([10, 17, 96]);
    expect(qr.estimateBytes(small, { collisions: 4, aggregator: 'mul' })).toBe(108 * 8 * 4);
  });

  it('reads Q_f[⌊x/c⌋] ⊙ R_f[x mod c] on local ids (or +), full rows elsewhere', () => {
    // Field 0: 3 ids, full (rows 0..2). Field 1: 10 ids, c = 3 → Q rows 3..6, R rows 7..9.
    const shape = { fields: [3, 10], dim: 2 };
    for (const aggregator of ['mul', 'sum'] as const) {
      const t = make(shape, { collisions: 3, aggregator });
      const w = t.parameters()[0]?.data as Float32Array;
      for (let k = 0; k < w.length; k += 1) w[k] = k + 1;
      const out = new Float32Array(4);
      t.forward(Uint32Array.of(1, 3 + 7), out); // local 7: quotient 2 → row 5, remainder 1 → row 8
      // Q row 5 = [11, 12], R row 8 = [17, 18]
      const e = aggregator === 'mul' ? [11 * 17, 12 * 18] : [11 + 17, 12 + 18];
      expect([...out]).toEqual([3, 4, ...e]);
      expect(t.toTable().describe().notes[0]).toContain('1 of 2 fields compressed');
    }
  });

  it('gives dQ = g ⊙ r and dR = g ⊙ q (mul), g to both (sum)', () => {
    const shape = { fields: [10], dim: 2 };
    const ids = Uint32Array.of(7, 7);
    const g = Float32Array.of(1, 2, 1, 2);
    const mul = make(shape, { collisions: 3, aggregator: 'mul' });
    const w = mul.parameters()[0]?.data as Float32Array;
    for (let k = 0; k < w.length; k += 1) w[k] = k + 1;
    const [gm] = mul.gradients(ids, g); // Q row 2 = [5, 6], R row 4 + 1 = [11, 12]
    expect([...(gm?.rows ?? [])]).toEqual([2, 5]);
    expect([...(gm?.values ?? [])]).toEqual([2 * 11, 2 * 24, 2 * 5, 2 * 12]);
    const [gs] = make(shape, { collisions: 3, aggregator: 'sum' }).gradients(ids, g);
    expect([...(gs?.values ?? [])]).toEqual([2, 4, 2, 4]);
  });

  it('reproduces the reference collisions (paper words)', () => {
    const c = (shape: TableShape, cr: number) =>
      qr.paramsForBudget?.(shape, cr, 'paper-words').collisions;
    expect(c(CRITEO_SHAPE, 0.5)).toBe(2);
    expect(c(CRITEO_SHAPE, 0.1)).toBe(10);
    expect(c(AVAZU_SHAPE, 0.5)).toBe(2);
    expect(c(AVAZU_SHAPE, 0.1)).toBe(10);
    const n = totalRows(CRITEO_SHAPE);
    expect(qrRows(CRITEO_SHAPE, 2) / n).toBeCloseTo(0.500002, 6);
    expect(qrRows(CRITEO_SHAPE, 10) / n).toBeCloseTo(0.100008, 6);
    expect(qr.paramsForBudget?.(CRITEO_SHAPE, 1, 'paper-words').collisions).toBe(1);
  });

  it('meets a byte budget with the smallest collision count that fits', () => {
    const cases: Array<[TableShape, number[]]> = [
      [CRITEO_SHAPE, [1, 0.5, 0.3, 0.1, 0.05, 0.01]],
      [AVAZU_SHAPE, [1, 0.5, 0.3, 0.1, 0.05, 0.01]],
      [small, [1, 0.5, 0.3]],
    ];
    for (const [shape, budgets] of cases) {
      for (const budget of budgets) {
        const p = qr.paramsForBudget?.(shape, budget) as QrParams;
        expect(qr.estimateBytes(shape, p)).toBeLessThanOrEqual(budget * fullBytes(shape));
        for (let c = 1; c < p.collisions; c += 1)
          expect(qrRows(shape, c) * shape.dim * 4).toBeGreaterThan(budget * fullBytes(shape));
      }
    }
    expect(() => qr.paramsForBudget?.(small, 0.05)).toThrow(BudgetError);
    // 0.500002 > 0.5: bytes accounting needs c = 3 on Criteo.
    expect(qr.paramsForBudget?.(CRITEO_SHAPE, 0.5)).toEqual({ collisions: 3, aggregator: 'mul' });
  });
});
