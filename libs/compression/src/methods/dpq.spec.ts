import { describeTrainableConformance } from '../conformance/suite';
import { SpecError } from '../core/errors';
import type { TrainableEmbedding } from '../core/method';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';
import { dpq, type DpqParams } from './dpq';
import type { CodebookTable } from './dpq-core';

const noFiniteDifferences = {
  skip: "forward serves the centroids of the STORED codes, so it does not depend on Q at all and the training gradient (straight-through to Q, the regulariser's to C) is a surrogate, not the derivative of any forward; the Q gradient and the regulariser's C gradient are checked directly in dpq.spec.ts",
};

describeTrainableConformance({
  spec: 'dpq(parts=4,choices=8)',
  shape: { fields: [5, 30, 200], dim: 8 },
  gradientCheck: noFiniteDifferences,
});

describeTrainableConformance({
  spec: 'dpq(parts=2,choices=300)', // u16 codes
  shape: { fields: [7, 60], dim: 4 },
  gradientCheck: noFiniteDifferences,
});

const shape: TableShape = { fields: [10, 40], dim: 4 };
const P = 2;
const K = 4;
const p = 2;
const params: DpqParams = { parts: P, choices: K };
const make = (lr = 0.05, kind: 'sgd' | 'adam' = 'sgd') =>
  dpq.createTrainable(shape, params, {
    seed: 1,
    optimizer: new SparseOptimizer({ kind, lr }),
  });
const view = (t: TrainableEmbedding, name: string) =>
  (t.parameters().find((v) => v.name === name) as { data: Float32Array }).data;

/** Nearest centroid of part `part` of Q[x] (brute force, ties → lowest). */
function nearestOf(t: TrainableEmbedding, x: number, part: number): number {
  const Q = view(t, 'query');
  const C = view(t, 'codebooks');
  let best = 0;
  let bestD = Infinity;
  for (let k = 0; k < K; k += 1) {
    let d = 0;
    for (let j = 0; j < p; j += 1)
      d += ((Q[x * 4 + part * p + j] as number) - (C[(part * K + k) * p + j] as number)) ** 2;
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function randomize(t: TrainableEmbedding, seed: number): void {
  const rng = new Rng(seed);
  for (const v of t.parameters())
    for (let i = 0; i < v.data.length; i += 1) v.data[i] = rng.uniform(-1, 1);
}

function rowsOf(t: TrainableEmbedding, ids: Uint32Array, train = false): Float32Array {
  const out = new Float32Array(ids.length * shape.dim);
  if (train) (t.trainForward as NonNullable<TrainableEmbedding['trainForward']>).call(t, ids, out);
  else t.forward(ids, out);
  return out;
}

describe('dpq: codes', () => {
  it('writes the nearest codes on a training forward, and forward then serves their centroids', () => {
    const t = make();
    randomize(t, 3);
    const C = view(t, 'codebooks');
    const ids = Uint32Array.of(3, 17, 3, 49);
    const before = rowsOf(t, ids);
    // Before any training step every id decodes to code 0 in every part.
    for (let i = 0; i < ids.length; i += 1)
      for (let part = 0; part < P; part += 1)
        for (let j = 0; j < p; j += 1)
          expect(before[i * 4 + part * p + j]).toBe(C[(part * K + 0) * p + j]);
    const trained = rowsOf(t, ids, true);
    const codes = (t.toTable() as CodebookTable).data[0]?.codes as Uint8Array;
    for (const x of ids)
      for (let part = 0; part < P; part += 1)
        expect(codes[x * P + part]).toBe(nearestOf(t, x, part));
    expect(rowsOf(t, ids)).toEqual(trained);
    expect(trained).not.toEqual(before);
  });

  it('keeps code 0 for ids never seen in training, in training and in serving', () => {
    const t = make(0.05, 'adam');
    const rng = new Rng(4);
    const seen = Uint32Array.from({ length: 20 }, (_, i) => i * 2); // even ids < 40 only
    for (let step = 0; step < 30; step += 1) {
      rowsOf(t, seen, true);
      t.backward(
        seen,
        new Float32Array(seen.length * 4).map(() => rng.normal()),
      );
    }
    const table = t.toTable() as CodebookTable;
    const codes = table.data[0]?.codes as Uint8Array;
    const C = view(t, 'codebooks');
    const unseen = Uint32Array.of(1, 3, 41, 49);
    for (const x of unseen)
      for (let part = 0; part < P; part += 1) expect(codes[x * P + part]).toBe(0);
    const out = new Float32Array(unseen.length * 4);
    table.lookup(unseen, out);
    for (let i = 0; i < unseen.length; i += 1)
      for (let part = 0; part < P; part += 1)
        for (let j = 0; j < p; j += 1) expect(out[i * 4 + part * p + j]).toBe(C[part * K * p + j]);
    expect(new Set(codes.subarray(0, 40 * P)).size).toBeGreaterThan(1);
  });

  it('stores codes as u8 up to 256 centroids and as u16 beyond', () => {
    const s: TableShape = { fields: [3, 5], dim: 4 };
    const opts = { seed: 1, optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }) };
    const small = dpq
      .createTrainable(s, { parts: 2, choices: 256 }, opts)
      .toTable() as CodebookTable;
    const big = dpq.createTrainable(s, { parts: 2, choices: 257 }, opts).toTable() as CodebookTable;
    expect(small.data[0]?.codes).toBeInstanceOf(Uint8Array);
    expect(big.data[0]?.codes).toBeInstanceOf(Uint16Array);
    expect(dpq.estimateBytes(s, { parts: 2, choices: 256 })).toBe(8 * 2 + 256 * 4 * 4);
    expect(dpq.estimateBytes(s, { parts: 2, choices: 257 })).toBe(8 * 2 * 2 + 257 * 4 * 4);
  });
});

describe('dpq: straight-through training', () => {
  it('gives Q exactly the summed row gradients, and C only the regulariser gradient', () => {
    const t = make();
    randomize(t, 5);
    const ids = Uint32Array.of(8, 20, 8, 33);
    const R = new Float32Array(ids.length * 4).map((_, i) => Math.sin(i + 1));
    const grads = t.gradients(ids, R);
    const q = grads.find((g) => g.name === 'query') as { rows: Uint32Array; values: Float32Array };
    expect(Array.from(q.rows)).toEqual([8, 20, 33]);
    for (let j = 0; j < 4; j += 1) {
      expect(q.values[j]).toBeCloseTo((R[j] as number) + (R[8 + j] as number), 6);
      expect(q.values[4 + j]).toBeCloseTo(R[4 + j] as number, 6);
      expect(q.values[8 + j]).toBeCloseTo(R[12 + j] as number, 6);
    }
    // C's gradient does not depend on the row gradients: it is the regulariser's alone.
    const c1 = grads.find((g) => g.name === 'codebooks')?.values as Float32Array;
    const c0 = t.gradients(ids, new Float32Array(R.length)).find((g) => g.name === 'codebooks');
    expect(c0?.values).toEqual(c1);
  });

  it("gives C the regulariser's gradient: finite differences of mean((C[code(q)] − q)²)", () => {
    const t = make();
    randomize(t, 6);
    const ids = Uint32Array.of(2, 11, 2, 27, 45);
    const Q = view(t, 'query');
    const C = view(t, 'codebooks');
    const reg = () => {
      let s = 0;
      for (const x of ids)
        for (let part = 0; part < P; part += 1) {
          const k = nearestOf(t, x, part);
          for (let j = 0; j < p; j += 1)
            s += ((C[(part * K + k) * p + j] as number) - (Q[x * 4 + part * p + j] as number)) ** 2;
        }
      return s / (ids.length * P * p);
    };
    const analytic = t
      .gradients(ids, new Float32Array(ids.length * 4))
      .find((g) => g.name === 'codebooks')?.values as Float32Array;
    const h = 1e-3;
    let nonZero = 0;
    for (let i = 0; i < C.length; i += 1) {
      const c = C[i] as number;
      C[i] = c + h;
      const up = reg();
      C[i] = c - h;
      const down = reg();
      C[i] = c;
      expect(analytic[i]).toBeCloseTo((up - down) / (2 * h), 3);
      if (Math.abs(analytic[i] as number) > 1e-6) nonZero += 1;
    }
    expect(nonZero).toBeGreaterThan(2);
  });

  it('backward moves Q rows by the row gradient (sgd) and the used centroids toward their queries', () => {
    const t = make(0.1);
    randomize(t, 7);
    const ids = Uint32Array.of(5, 30);
    const R = new Float32Array(8).map((_, i) => 0.5 - i / 8);
    const Q0 = view(t, 'query').slice();
    const C0 = view(t, 'codebooks').slice();
    const regBefore = regularizer(t, ids);
    t.backward(ids, R);
    const Q = view(t, 'query');
    for (let j = 0; j < 4; j += 1) {
      expect(Q[5 * 4 + j]).toBeCloseTo((Q0[5 * 4 + j] as number) - 0.1 * (R[j] as number), 6);
      expect(Q[30 * 4 + j]).toBeCloseTo((Q0[30 * 4 + j] as number) - 0.1 * (R[4 + j] as number), 6);
    }
    expect(view(t, 'codebooks')).not.toEqual(C0);
    // The centroid step lowers the regulariser for the same queries.
    view(t, 'query').set(Q0);
    expect(regularizer(t, ids)).toBeLessThan(regBefore);
  });

  it('learns a toy target end to end: the served rows approach per-id targets', () => {
    const s: TableShape = { fields: [120], dim: 4 };
    const t = dpq.createTrainable(
      s,
      { parts: 2, choices: 8 },
      {
        seed: 2,
        optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.02 }),
      },
    );
    const rng = new Rng(9);
    // Targets built from 8 prototypes per part: representable exactly by 2 parts × 8 centroids.
    const protos = new Float32Array(2 * 8 * 2).map(() => rng.uniform(-0.5, 0.5));
    const n = totalRows(s);
    const target = new Float32Array(n * 4);
    for (let x = 0; x < n; x += 1)
      for (let part = 0; part < 2; part += 1) {
        const k = rng.int(0, 8);
        for (let j = 0; j < 2; j += 1)
          target[x * 4 + part * 2 + j] = protos[(part * 8 + k) * 2 + j] as number;
      }
    const all = Uint32Array.from({ length: n }, (_, i) => i);
    const loss = () => {
      const out = new Float32Array(n * 4);
      t.forward(all, out);
      let sum = 0;
      for (let i = 0; i < out.length; i += 1)
        sum += ((out[i] as number) - (target[i] as number)) ** 2;
      return sum / n;
    };
    const opt = (t as unknown as { optimizer: SparseOptimizer }).optimizer;
    const rows = new Float32Array(32 * 4);
    const grads = new Float32Array(32 * 4);
    for (let step = 0; step < 400; step += 1) {
      opt.nextStep();
      const ids = Uint32Array.from({ length: 32 }, () => rng.int(0, n));
      (t.trainForward as NonNullable<TrainableEmbedding['trainForward']>).call(t, ids, rows);
      for (let i = 0; i < ids.length; i += 1)
        for (let j = 0; j < 4; j += 1)
          grads[i * 4 + j] =
            (rows[i * 4 + j] as number) - (target[(ids[i] as number) * 4 + j] as number);
      t.backward(ids, grads);
    }
    const start = (() => {
      const fresh = dpq.createTrainable(
        s,
        { parts: 2, choices: 8 },
        {
          seed: 2,
          optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.02 }),
        },
      );
      const out = new Float32Array(n * 4);
      fresh.forward(all, out);
      let sum = 0;
      for (let i = 0; i < out.length; i += 1)
        sum += ((out[i] as number) - (target[i] as number)) ** 2;
      return sum / n;
    })();
    const end = loss();
    // Measured: 0.470 → 0.0069; without the Q update it stays at 0.44.
    expect(end).toBeLessThan(0.1 * start);
  });
});

/** mean((C[code(q)] − q)²) over the lookups of ids, codes from the current Q. */
function regularizer(t: TrainableEmbedding, ids: Uint32Array): number {
  const Q = view(t, 'query');
  const C = view(t, 'codebooks');
  let s = 0;
  for (const x of ids)
    for (let part = 0; part < P; part += 1) {
      const k = nearestOf(t, x, part);
      for (let j = 0; j < p; j += 1)
        s += ((C[(part * K + k) * p + j] as number) - (Q[x * 4 + part * p + j] as number)) ** 2;
    }
  return s / (ids.length * P * p);
}

describe('dpq: layout and accounting', () => {
  it('counts codes + codebooks in bytes, each code as a word in paper words', () => {
    const n = 50;
    expect(dpq.estimateBytes(shape, params)).toBe(n * P + K * 4 * 4);
    expect(dpq.paperWords(shape, params)).toBe(n * P + K * 4);
    const t = make();
    expect(t.memoryBytes()).toBe(n * P + K * 4 * 4);
    const d = t.toTable().describe();
    expect(d.compressionRatio).toBeCloseTo((n * 4 * 4) / (n * P + K * 16), 10);
    expect(d.notes.join(' ')).toContain(`query table Q (${n * 4 * 4} bytes, training only`);
    expect(d.notes.join(' ')).toContain('set by parts P and choices K');
  });

  it('refuses parts that do not divide the dimension', () => {
    expect(() => dpq.estimateBytes(shape, { parts: 3, choices: 4 })).toThrow(SpecError);
    expect(() =>
      dpq.createTrainable(
        shape,
        { parts: 3, choices: 4 },
        {
          seed: 1,
          optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
        },
      ),
    ).toThrow(SpecError);
  });
});
