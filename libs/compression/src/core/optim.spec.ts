// Row-wise Adagrad (issue #12 item 4, docs/models.md#sparse-optimizer) against a hand computation:
// one accumulator per row, acc += mean(g²), row -= lr·g/(sqrt(acc)+eps); lazy.
import { SparseOptimizer } from './optim';

describe('SparseOptimizer rowwise-adagrad', () => {
  it('updates touched rows with one accumulator per row, as computed by hand', () => {
    const opt = new SparseOptimizer({ kind: 'rowwise-adagrad', lr: 0.1 });
    const slot = opt.slot('table', 3, 2);
    expect(slot.v).toHaveLength(3); // one accumulator per ROW
    const values = new Float32Array([1, 2, 5, 6, -1, 0.5]);

    opt.nextStep();
    opt.updateRows(slot, new Uint32Array([0]), new Float32Array([0.3, -0.4]), values);
    // mean(g²) = (0.09 + 0.16) / 2 = 0.125; lr / sqrt(0.125) = 0.2828427.
    expect(slot.v?.[0]).toBeCloseTo(0.125, 7);
    expect(values[0]).toBeCloseTo(1 - 0.2828427 * 0.3, 6); // 0.9151472
    expect(values[1]).toBeCloseTo(2 + 0.2828427 * 0.4, 6); // 2.1131371

    opt.nextStep();
    opt.updateRows(slot, new Uint32Array([0, 2]), new Float32Array([0.1, 0.1, 2, 0]), values);
    // Row 0: acc = 0.125 + 0.01 = 0.135; lr / sqrt(0.135) = 0.2721655.
    expect(slot.v?.[0]).toBeCloseTo(0.135, 7);
    expect(values[0]).toBeCloseTo(0.9151472 - 0.02721655, 5);
    expect(values[1]).toBeCloseTo(2.1131371 - 0.02721655, 5);
    // Row 2: acc = (4 + 0) / 2 = 2; lr / sqrt(2) = 0.0707107; the zero gradient moves nothing.
    expect(slot.v?.[2]).toBeCloseTo(2, 7);
    expect(values[4]).toBeCloseTo(-1 - 0.0707107 * 2, 6);
    expect(values[5]).toBeCloseTo(0.5, 7);
    // Lazy: row 1 was never in a batch.
    expect(slot.v?.[1]).toBe(0);
    expect(Array.from(values.subarray(2, 4))).toEqual([5, 6]);
  });

  it('applies the lazy L2 term inside the row gradient and updates a gathered copy via at()', () => {
    const opt = new SparseOptimizer({ kind: 'rowwise-adagrad', lr: 0.5, l2: 0.1 });
    const slot = opt.slot('t', 10, 2);
    const scratch = new Float32Array([2, -2]);
    opt.nextStep();
    opt.updateRows(slot, new Uint32Array([7]), new Float32Array([0, 0]), scratch, (i) => i);
    // g = 0.1 · value = [0.2, -0.2]; mean(g²) = 0.04; 0.5 / 0.2 = 2.5 → value − 2.5·g.
    expect(slot.v?.[7]).toBeCloseTo(0.04, 7);
    expect(Array.from(scratch).map((x) => Number(x.toFixed(5)))).toEqual([1.5, -1.5]);
  });

  it('updates a dense parameter as rows of the slot row length', () => {
    const opt = new SparseOptimizer({ kind: 'rowwise-adagrad', lr: 1 });
    const slot = opt.slot('w', 2, 2);
    const w = new Float32Array([0, 0, 0, 0]);
    opt.nextStep();
    opt.updateDense(slot, new Float32Array([3, 4, 1, 1]), w);
    // Row 0: acc = 12.5, step 1/sqrt(12.5); row 1: acc = 1, step 1.
    expect(w[0]).toBeCloseTo(-3 / Math.sqrt(12.5), 6);
    expect(w[1]).toBeCloseTo(-4 / Math.sqrt(12.5), 6);
    expect(w[2]).toBeCloseTo(-1, 6);
    expect(w[3]).toBeCloseTo(-1, 6);
  });

  it('refuses an unknown kind', () => {
    expect(() => new SparseOptimizer({ kind: 'lion' as never, lr: 0.1 })).toThrow(
      'optimizer kind must be one of sgd, adagrad, adam, rowwise-adagrad',
    );
  });
});
