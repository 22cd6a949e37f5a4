import { describeTrainableConformance } from '../conformance/suite';
import { BudgetError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import { dedup, dedupStopCount, type DedupParams } from './dedup';
import { lshDedup, percentile, type LshSettings } from './dedup-lsh';

// fp 0.1 merges the tiny-init blocks (|Δ| ≤ 2·sqrt(1/700) < 0.1), so the suite's fine-tune stage
// serves a deduplicated table; 1050 rows = 65 blocks of 16 + a padding block of 10 rows.
describeTrainableConformance({
  spec: 'dedup(blockRows=16,fp=0.1)',
  shape: { fields: [300, 700, 50], dim: 8 },
});
// Defaults (fp 0.01: nothing merges at this init), 512 rows = 32 whole blocks: no padding block.
describeTrainableConformance({
  spec: 'dedup(blockRows=16)',
  shape: { fields: [256, 256], dim: 4 },
});

const LSH: LshSettings = { bands: 90, width: 0.09, fp: 0.01, sim: 0.7, lshThreshold: 0 };
const DEFAULTS = dedup.params.parse({});

/** B blocks of b rows × D, values U(−1, 1): no two blocks alike. */
function randomBlocks(rng: Rng, B: number, b: number, D: number): Float32Array {
  return new Float32Array(B * b * D).map(() => rng.uniform(-1, 1));
}

function copyBlock(t: Float32Array, from: number, to: number, len: number, noise = 0, rng?: Rng) {
  for (let i = 0; i < len; i += 1)
    t[to * len + i] =
      (t[from * len + i] as number) + (noise > 0 ? (rng as Rng).uniform(-noise, noise) : 0);
}

describe('dedup: LSH block deduplication', () => {
  const b = 8;
  const D = 4;
  const len = b * D;
  const B = 20;

  it('computes the 75th percentile like numpy (linear interpolation)', () => {
    expect(percentile(Float32Array.of(4, 1, 3, 2), 75)).toBeCloseTo(3.25, 6);
    expect(percentile(Float32Array.of(7), 75)).toBe(7);
  });

  it('finds and merges planted duplicate blocks; dissimilar blocks stay apart', () => {
    const rng = new Rng(1);
    const t = randomBlocks(rng, B, b, D);
    copyBlock(t, 2, 5, len);
    copyBlock(t, 3, 9, len);
    copyBlock(t, 5, 14, len); // a duplicate of a duplicate: the chain resolves to block 2
    copyBlock(t, 11, 17, len, 0.004, rng); // within fp, not bit-equal
    const r = lshDedup({
      table: t,
      rows: B * b,
      blockRows: b,
      dim: D,
      tStop: 100,
      lsh: LSH,
      rng: new Rng(3),
    });
    expect(r.merges).toBe(4);
    expect(r.unique).toBe(16);
    expect(r.map[5]).toBe(r.map[2]);
    expect(r.map[14]).toBe(r.map[2]);
    expect(r.map[9]).toBe(r.map[3]);
    expect(r.map[17]).toBe(r.map[11]);
    const planted = new Set([5, 9, 14, 17]);
    const others = [...r.map].filter((_, k) => !planted.has(k));
    expect(new Set(others).size).toBe(16);
    expect(Math.max(...r.map)).toBe(15);
  });

  it('merges only at sim ≥ the threshold (a block 60% equal to another is kept apart at 0.7)', () => {
    const rng = new Rng(2);
    const t = randomBlocks(rng, B, b, D);
    copyBlock(t, 0, 19, len);
    // 40% of block 19's values moved by 0.05 (> fp): sim 0.6, still close enough to share bands.
    for (let i = 0; i < len; i += 5) {
      t[19 * len + i] = (t[19 * len + i] as number) + 0.05;
      t[19 * len + i + 1] = (t[19 * len + i + 1] as number) - 0.05;
    }
    const run = (sim: number) =>
      lshDedup({
        table: t,
        rows: B * b,
        blockRows: b,
        dim: D,
        tStop: 100,
        lsh: { ...LSH, sim, width: 1 },
        rng: new Rng(3),
      });
    expect(run(0.7).merges).toBe(0);
    const merged = run(0.5);
    expect(merged.merges).toBe(1);
    expect(merged.map[19]).toBe(merged.map[0]);
  });

  it('stops after T_stop merges', () => {
    const rng = new Rng(4);
    const t = randomBlocks(rng, B, b, D);
    for (const [from, to] of [
      [0, 10],
      [1, 11],
      [2, 12],
      [3, 13],
    ] as const)
      copyBlock(t, from, to, len);
    const r = lshDedup({
      table: t,
      rows: B * b,
      blockRows: b,
      dim: D,
      tStop: 2,
      lsh: LSH,
      rng: new Rng(3),
    });
    expect(r.merges).toBe(2);
    expect(r.unique).toBe(B - 2);
    expect(
      lshDedup({ table: t, rows: B * b, blockRows: b, dim: D, tStop: 0, lsh: LSH, rng: new Rng(3) })
        .merges,
    ).toBe(0);
  });

  it('merges the last block when there is no padding (the reference compares an empty slice: NaN)', () => {
    const rng = new Rng(5);
    const t = randomBlocks(rng, B, b, D);
    copyBlock(t, 0, B - 1, len);
    const r = lshDedup({
      table: t,
      rows: B * b,
      blockRows: b,
      dim: D,
      tStop: 100,
      lsh: LSH,
      rng: new Rng(3),
    });
    expect(r.merges).toBe(1);
    expect(r.map[B - 1]).toBe(r.map[0]);
    // ...and as a target: a later-processed copy of the last block merges into it.
    const u = randomBlocks(rng, B, b, D);
    for (let i = 0; i < len; i += 1) u[(B - 1) * len + i] = -2 + i * 1e-3; // processed first
    copyBlock(u, B - 1, 4, len);
    for (let i = 0; i < len; i += 1) u[4 * len + i] = (u[4 * len + i] as number) + 1e-4; // then 4
    const s = lshDedup({
      table: u,
      rows: B * b,
      blockRows: b,
      dim: D,
      tStop: 100,
      lsh: LSH,
      rng: new Rng(3),
    });
    expect(s.dupOf[4]).toBe(B - 1);
  });

  const padded = (seed: number) => {
    const t = randomBlocks(new Rng(seed), B, b, D);
    const rows = B * b - 3; // the last block: 5 real rows (20 values X), 3 padding rows
    t.fill(0, rows * D);
    return {
      t,
      rows,
      X: (base: number) => Float32Array.from({ length: 20 }, (_, k) => base + k * 1e-3),
    };
  };

  it('compares a padding block with a candidate on its real rows only', () => {
    const { t, rows, X } = padded(6);
    // Block 0 = X and 12 values 0.02 (within LSH reach of the padding zeros, but not within fp):
    // 75th percentile 0.51125, processed before the padding block (0.51425).
    t.set(X(0.5), 0);
    t.fill(0.02, 20, len);
    t.set(X(0.5), (B - 1) * len);
    const r = lshDedup({
      table: t,
      rows,
      blockRows: b,
      dim: D,
      tStop: 100,
      lsh: LSH,
      rng: new Rng(3),
    });
    // Merged on the 5 real rows (with the padding rows compared, sim would be 5/8 < 0.7).
    expect(r.dupOf[B - 1]).toBe(0);
    expect(r.merges).toBe(1);
  });

  it('never merges a block into the padding block', () => {
    const { t, rows, X } = padded(7);
    // The padding block (X, percentile −0.486) is processed before block 1 = X and zeros (0):
    // equal to the padded vector, which is no target (its padding rows are no rows of T).
    t.set(X(-0.5), (B - 1) * len);
    t.set(t.subarray((B - 1) * len, B * len), len);
    const r = lshDedup({
      table: t,
      rows,
      blockRows: b,
      dim: D,
      tStop: 100,
      lsh: LSH,
      rng: new Rng(3),
    });
    expect(r.order.indexOf(B - 1)).toBeLessThan(r.order.indexOf(1));
    expect(r.dupOf[1]).toBe(-1);
    expect(r.merges).toBe(0);
  });
});

describe('dedup: budget', () => {
  const shape = { fields: [1000], dim: 8 };
  const p = (over: Partial<DedupParams>): DedupParams => ({ ...DEFAULTS, blockRows: 100, ...over });

  it('derives T_stop from the budget, block map counted (bytes) or by the reference formula (words)', () => {
    // B = 10 blocks of 3200 bytes, map 10 × u8; budget 16000 bytes → at most 4 blocks → 6 merges.
    expect(dedupStopCount(shape, p({ budget: 0.5 }))).toBe(6);
    // (B·b·D − n·D·cr)/(b·D − 1) = 4000/799.
    expect(dedupStopCount(shape, p({ budget: 0.5, accounting: 'paper-words' }))).toBeCloseTo(
      5.0063,
      4,
    );
    // Budget 1: the warm-up form is the full table plus its map, so one merge pays for the map.
    expect(dedupStopCount(shape, p({ budget: 1 }))).toBe(1);
  });

  it('estimates the warm-up form (identity map, padded blocks) exactly', () => {
    expect(dedup.estimateBytes({ fields: [1000, 50], dim: 8 }, p({}))).toBe(11 * 100 * 8 * 4 + 11);
    expect(dedup.paperWords({ fields: [1000, 50], dim: 8 }, p({}))).toBe(11 * 100 * 8 + 11);
  });

  it('refuses a budget below one block plus the map with BudgetError naming the floor', () => {
    expect(() => dedup.paramsForBudget?.(shape, 0.1)).toThrow(BudgetError);
    const big = { fields: [100_000], dim: 16 };
    expect(() => dedup.paramsForBudget?.(big, 0.001)).toThrow(/smallest reachable 0\.002682/);
    expect(dedup.paramsForBudget?.(big, 0.25, 'paper-words')).toMatchObject({
      budget: 0.25,
      accounting: 'paper-words',
      blockRows: 256,
    });
  });
});

describe('dedup: stages', () => {
  const shape = { fields: [640, 384], dim: 4 };
  const b = 64;
  const len = b * 4;
  const opt = () => new SparseOptimizer({ kind: 'adam', lr: 0.01 });
  const context = (optimizer: SparseOptimizer, lines: string[]): StageContext => ({
    index: 1,
    stage: dedup.stages(DEFAULTS)[1] as StageContext['stage'],
    seed: 7,
    plannedSteps: 10,
    optimizer,
    frequencies: new Uint32Array(1024),
    evaluate: () => Promise.reject(new Error('not used')),
    log: (line) => lines.push(line),
  });

  /** 16 blocks of 64 rows: random, with blocks 3, 8 and 12 copies of 1, 2 and 1. */
  const planted = (budget: number) => {
    const p: DedupParams = { ...DEFAULTS, blockRows: b, budget };
    const optimizer = opt();
    const t = dedup.createTrainable(shape, p, { seed: 1, optimizer });
    const [table] = t.parameters();
    const data = (table as { data: Float32Array }).data;
    const rng = new Rng(9);
    for (let i = 0; i < data.length; i += 1) data[i] = rng.uniform(-1, 1);
    for (const [from, to] of [
      [1, 3],
      [2, 8],
      [1, 12],
    ] as const)
      data.set(data.slice(from * len, (from + 1) * len), to * len);
    return { t, optimizer, p };
  };

  it('declares warm-up then fine-tune, dense model and its optimizer carried, best on validation', () => {
    expect(dedup.stages(DEFAULTS).map((s) => [s.name, s.optimizer, s.keep, s.dense])).toEqual([
      ['warmup', 'carry', 'best-val', 'train'],
      ['finetune', 'carry', 'best-val', 'train'],
    ]);
  });

  it('deduplicates the kept table on entering fine-tune; the block map routes ids and sums gradients', async () => {
    const { t, optimizer } = planted(0.5);
    const before = new Float32Array(1024 * 4);
    const all = Uint32Array.from({ length: 1024 }, (_, i) => i);
    t.forward(all, before);
    const lines: string[] = [];
    await t.enterStage(context(optimizer, lines));
    // Budget 0.5 asks for 8 merges; only the 3 planted blocks are alike: ratio not met.
    expect(t.memoryBytes()).toBe(13 * len * 4 + 16);
    expect(lines.join('\n')).toMatch(/3 of 16 blocks merged at fp 0.32 \(T_stop 9\).*not met/);
    const after = new Float32Array(1024 * 4);
    t.forward(all, after);
    expect(after).toEqual(before); // exact copies: every id reads the same values
    // Ids of blocks 1 and 12 (offset 5) read one row of T: their gradients are summed.
    const ids = Uint32Array.of(1 * b + 5, 12 * b + 5, 2 * b);
    const [g] = t.gradients(ids, new Float32Array(3 * 4).fill(1));
    expect(g?.rows?.length).toBe(2);
    expect([...(g?.values ?? []).slice(0, 4)]).toEqual([2, 2, 2, 2]);
    optimizer.nextStep();
    t.backward(ids, new Float32Array(3 * 4).fill(1));
    const moved = new Float32Array(2 * 4);
    t.forward(Uint32Array.of(1 * b + 5, 12 * b + 5), moved);
    expect(moved.slice(0, 4)).toEqual(moved.slice(4));
    const served = t.toTable();
    expect(served.describe().notes.join(' ')).toMatch(/13 unique \(3 merged\).*NOT met/);
    const loaded = registry.load(served.encode());
    const out = new Float32Array(1024 * 4);
    loaded.lookup(all, out);
    const trained = new Float32Array(1024 * 4);
    t.forward(all, trained);
    expect(out).toEqual(trained);
    // A second entry (restored after the dedup) leaves the table as it is.
    await t.enterStage(context(optimizer, lines));
    expect(t.memoryBytes()).toBe(13 * len * 4 + 16);
  });

  it('stops at T_stop and meets a budget the similar blocks allow', async () => {
    // Budget for 14 of 16 blocks: T_stop 2 of the 3 planted merges.
    const budget = (14 * len * 4 + 16 + 0.5) / (1024 * 16);
    const { t, optimizer } = planted(budget);
    await t.enterStage(context(optimizer, []));
    expect(t.memoryBytes()).toBe(14 * len * 4 + 16);
    expect(t.toTable().describe().notes.join(' ')).toMatch(/budget .* met \(bytes\)/);
    expect(t.toTable().describe().compressionRatio).toBeCloseTo(16384 / (14 * len * 4 + 16), 6);
  });

  it('relaxes fp (doubling, up to fpMax) until the budget is met; fpMax = fp keeps the reference', async () => {
    // Blocks 3, 8 and 12 become noisy copies (every value within ±0.02 of its source): at the
    // reference's fp 0.01 about half the values differ, at fp 0.02 all are equal.
    const noisy = (fpMax: number) => {
      const budget = (14 * len * 4 + 16 + 0.5) / (1024 * 16);
      const { t, optimizer } = planted(budget);
      const data = (t.parameters()[0] as { data: Float32Array }).data;
      const rng = new Rng(3);
      for (const block of [3, 8, 12])
        for (let i = block * len; i < (block + 1) * len; i += 1)
          data[i] = (data[i] as number) + rng.uniform(-0.02, 0.02);
      const p: DedupParams = { ...DEFAULTS, blockRows: b, budget, fpMax };
      return { t: dedup.createTrainable(shape, p, { seed: 1, optimizer }), data, optimizer };
    };
    const reference = noisy(0.01);
    (reference.t.parameters()[0] as { data: Float32Array }).data.set(reference.data);
    const refLines: string[] = [];
    await reference.t.enterStage(context(reference.optimizer, refLines));
    expect(refLines.join('\n')).toMatch(/0 of 16 blocks merged at fp 0.01 .*not met/);
    const relaxed = noisy(0.32);
    (relaxed.t.parameters()[0] as { data: Float32Array }).data.set(relaxed.data);
    const lines: string[] = [];
    await relaxed.t.enterStage(context(relaxed.optimizer, lines));
    expect(lines.join('\n')).toMatch(/fp 0.01 merged 0 of 16 blocks .*trying fp 0.02/);
    expect(lines.join('\n')).toMatch(/2 of 16 blocks merged at fp 0.02 \(T_stop 2\)/);
    expect(relaxed.t.memoryBytes()).toBe(14 * len * 4 + 16);
  });

  it('draws its LSH from the context seed (same seed, same table)', async () => {
    const a = planted(0.5);
    const c = planted(0.5);
    await a.t.enterStage(context(a.optimizer, []));
    await c.t.enterStage(context(c.optimizer, []));
    expect(Buffer.from(a.t.toTable().encode()).equals(Buffer.from(c.t.toTable().encode()))).toBe(
      true,
    );
  });
});
