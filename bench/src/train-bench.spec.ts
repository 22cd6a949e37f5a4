// `embpress bench train` as a real CLI process, each --what on a tiny configuration (tiny
// layers, a few thousand synthetic rows): the report's shape and invariants, not speed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { runBench } from './testing/run-bench';
import { BenchSetupError } from './bench-setup-error';
import { benchTrainCommand } from './train-bench';
import type { MethodsReport } from './train-bench-methods';
import type { QualityReport } from './train-bench-quality';
import type { ThroughputReport } from './train-bench-throughput';

const TINY = ['--bottom', '8', '--top', '8', '--dim', '8', '--batch-size', '128', '--parts', '2'];

async function bench(
  args: string[],
): Promise<{ code: number | null; report: Record<string, unknown>; stderr: string }> {
  const cli = runBench(['train', ...args, '--json']);
  const { code } = await cli.exit;
  const lines = cli.stdout().trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(last) as Record<string, unknown>;
  } catch {
    // Left empty: the assertions below show stderr.
  }
  return { code, report, stderr: cli.stderr() };
}

const num = expect.any(Number);
const load = [num, num, num];

describe('embpress bench train', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-bench-train-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('quality: DLRM and FM against the Bayes AUC of each size', async () => {
    const work = join(dir, 'quality');
    const { code, report, stderr } = await bench([
      '--what',
      'quality',
      ...['--rows', '2000,4000', '--fm-epochs', '2', '--work-dir', work],
      ...TINY,
    ]);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const q = report as unknown as QualityReport & { loadavgStart: number[] };
    expect(q).toMatchObject({ what: 'quality', backend: 'wasm', loadavgStart: load });
    expect(q.results.map((r) => r.rows)).toEqual([2000, 4000]);
    for (const r of q.results) {
      expect(r.split.train + r.split.validation + r.split.test).toBe(r.rows);
      expect(r.bayesAuc).toBeGreaterThan(0.5);
      expect(r.bayesAuc).toBeLessThanOrEqual(1);
      for (const m of [r.dlrm, r.fm]) {
        expect(m.testAuc).toBeGreaterThanOrEqual(0);
        expect(m.testAuc).toBeLessThanOrEqual(1);
        expect(m.testLogloss).toBeGreaterThan(0);
      }
      expect(r.gap.dlrm).toBeCloseTo(r.bayesAuc - r.dlrm.testAuc, 12);
      expect(r.gap.fm).toBeCloseTo(r.bayesAuc - r.fm.testAuc, 12);
      expect(r.fm.bestEpoch).toBeGreaterThanOrEqual(1);
      expect(r.fm.bestEpoch).toBeLessThanOrEqual(r.fm.epochsRun);
    }
    // The checks are computed from the rows, whatever they say at this size.
    expect(q.checks.dlrmAtLeastFm).toEqual(q.results.map((r) => r.dlrm.testAuc >= r.fm.testAuc));
    const [a, b] = q.results;
    expect(q.checks.dlrmGapShrinks).toBe(
      (b as QualityReport['results'][0]).gap.dlrm < (a as QualityReport['results'][0]).gap.dlrm,
    );
  }, 60_000);

  it('methods: every method trains, budget-driven ones fit the budget; a failure fails loudly', async () => {
    const data = join(dir, 'criteo.txt');
    await generateSynthetic({ rows: 3000, seed: 5, out: data });
    const { code, report, stderr } = await bench([
      '--what',
      'methods',
      ...['--data', `criteo:${data}`, '--methods', 'full,hash,qr,int8,rowwise-int8,dhe'],
      ...['--budget', '0.25', '--work-dir', join(dir, 'methods')],
      ...TINY,
    ]);
    const m = report as unknown as MethodsReport;
    // DHE's decoder alone is larger than a quarter of this tiny table: reported, and exit 1.
    expect(code).toBe(1);
    expect(stderr).toMatch(/dhe failed: .*budget 0\.25/);
    expect(m.failures.map((f) => f.method)).toEqual(['dhe']);
    expect(m.results.map((r) => r.method)).toEqual(['full', 'hash', 'qr', 'int8', 'rowwise-int8']);
    const full = m.results[0] as MethodsReport['results'][0];
    expect(full).toMatchObject({ budget: null, withinBudget: null });
    expect(full.memoryBytes).toBe(full.fullBytes);
    for (const r of m.results) {
      expect(r).toMatchObject({
        valAuc: num,
        testAuc: num,
        testLogloss: num,
        trainSeconds: num,
        samplesPerSec: num,
      });
      expect(r.fullBytes).toBe(full.fullBytes);
      if (r.budget !== null) {
        expect(r.budget).toBe(0.25);
        expect(r.withinBudget).toBe(true);
        expect(r.memoryBytes).toBeLessThanOrEqual(0.25 * r.fullBytes);
      }
    }
    expect(m.overBudget).toEqual([]);
  }, 60_000);

  it('throughput: per method, the step loop split into lookup, model and backward', async () => {
    const { code, report, stderr } = await bench([
      '--what',
      'throughput',
      ...['--methods', 'full,hash', '--steps', '3', '--warmup', '1', '--scale', '0.0001'],
      ...TINY,
    ]);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const t = report as unknown as ThroughputReport;
    expect(t).toMatchObject({ what: 'throughput', backend: 'wasm', numDense: 13, numFields: 26 });
    expect(t.results.map((r) => r.method)).toEqual(['full', 'hash']);
    for (const r of t.results) {
      expect(r).toMatchObject({
        batchSize: 128,
        steps: 3,
        samplesPerSec: num,
        stepMsMedian: num,
        parts: { lookupMs: num, modelMs: num, backwardMs: num },
        loadavgBefore: load,
      });
      expect(r.samplesPerSec).toBeGreaterThan(0);
      expect(r.stepMsMin).toBeLessThanOrEqual(r.stepMsMedian);
      expect(r.stepMsMedian).toBeLessThanOrEqual(r.stepMsMax);
    }
    const [full, hash] = t.results as [
      ThroughputReport['results'][0],
      ThroughputReport['results'][0],
    ];
    expect(full.memoryBytes).toBe(full.fullBytes);
    expect(hash.memoryBytes).toBeLessThanOrEqual(0.25 * hash.fullBytes);
  }, 60_000);

  it('rejects a bad --what and a missing --data with one line (exit 2)', async () => {
    await expect(benchTrainCommand(['--what', 'speed'])).rejects.toThrow(
      /--what must be one of quality, methods, throughput/,
    );
    await expect(
      benchTrainCommand(['--what', 'methods', '--data', `criteo:${join(dir, 'nope.txt')}`]),
    ).rejects.toThrow(BenchSetupError);
    await expect(benchTrainCommand(['--what', 'quality', '--rows', '1000,abc'])).rejects.toThrow(
      /--rows must be an integer/,
    );
  });

  it('--vs pytorch names what is missing when python3 or torch is not there (exit 2)', async () => {
    // No interpreter at that path.
    const none = join(dir, 'no-such-python');
    await expect(benchTrainCommand(['--vs', 'pytorch', '--python', none])).rejects.toThrow(
      new RegExp(`--vs pytorch needs ${none} \\(ENOENT\\)`),
    );
    // An interpreter that cannot import torch (here: one that fails whatever it runs).
    const failing = benchTrainCommand(['--vs', 'pytorch', '--python', 'false']);
    await expect(failing).rejects.toThrow(BenchSetupError);
    await expect(failing).rejects.toThrow(
      /needs torch and numpy importable by false.*pip install torch/,
    );
    await expect(benchTrainCommand(['--vs', 'tensorflow'])).rejects.toThrow(
      /--vs must be one of pytorch/,
    );
    await expect(
      benchTrainCommand(['--vs', 'pytorch', '--models', 'dlrm,bert', '--python', none]),
    ).rejects.toThrow(/--models must be one of dlrm, wdl, dcn, deepfm, fm/);
    // The levers are checked before anything runs.
    await expect(benchTrainCommand(['--vs', 'pytorch', '--dropout', '1'])).rejects.toThrow(
      /--dropout must be a rate in \[0, 1\), got "1"/,
    );
    await expect(
      benchTrainCommand(['--vs', 'pytorch', '--lr-schedule', 'step', '--python', none]),
    ).rejects.toThrow(/--lr-schedule must be one of constant, cosine, linear/);
  });
});
