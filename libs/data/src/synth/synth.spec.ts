import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../errors';
import { AVAZU_CATEGORICAL, AVAZU_FORMAT, CRITEO_FORMAT, type DataSource } from '../formats';
import { logLoss, rocAuc } from '../metrics';
import { Prng } from '../prng';
import { TabularReader } from '../tabular-reader';
import { generateSynthetic, synthSplit, type SynthReport } from './generate';
import { SyntheticModel } from './model';
import { scaledCardinality } from './profiles';
import { ZIPF_ALIAS_MAX, ZipfSampler } from './zipf';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'embpress-data-synth-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Recomputes the true probabilities of the test split from the file alone. */
async function bayesFromFile(source: DataSource, report: SynthReport) {
  const model = SyntheticModel.create({ profile: report.profile, seed: report.seed });
  const plan = synthSplit(report.profile, report.rows);
  const reader = await TabularReader.open(source);
  const nd = reader.layout.dense.length;
  const nc = reader.layout.categorical.length;
  const p: number[] = [];
  const y: number[] = [];
  let positives = 0;
  for await (const b of reader.batches({ batchRows: 2048 })) {
    for (let r = 0; r < b.size; r += 1) {
      positives += b.labels[r] as number;
      const pos = b.rowIndex[r] as number;
      if (pos < (plan.test?.start ?? 0) || pos >= (plan.test?.end ?? 0)) continue;
      p.push(model.probability(b.dense, r * nd, b.categorical, r * nc));
      y.push(b.labels[r] as number);
    }
  }
  return {
    auc: rocAuc(p, y),
    logloss: logLoss(p, y),
    testRows: p.length,
    positiveRate: positives / report.rows,
  };
}

const entropy = (q: number) => -(q * Math.log(q) + (1 - q) * Math.log(1 - q));

describe('synthetic data', () => {
  it('is deterministic from the seed, and its first rows do not depend on --rows', async () => {
    const a = await generateSynthetic({ rows: 3000, seed: 5, out: join(dir, 'a.tsv') });
    const b = await generateSynthetic({ rows: 3000, seed: 5, out: join(dir, 'b.tsv') });
    const c = await generateSynthetic({ rows: 3000, seed: 6, out: join(dir, 'c.tsv') });
    const short = await generateSynthetic({ rows: 1000, seed: 5, out: join(dir, 'short.tsv') });
    const text = (name: string) => readFileSync(join(dir, name), 'utf8');
    expect(text('b.tsv')).toBe(text('a.tsv'));
    expect(text('c.tsv')).not.toBe(text('a.tsv'));
    const strip = ({ out: _o, seconds: _s, ...rest }: SynthReport) => rest;
    expect(strip(b)).toEqual(strip(a));
    expect(text('short.tsv')).toBe(text('a.tsv').split('\n').slice(0, 1000).join('\n') + '\n');
    expect(short.bayesAuc).not.toBe(a.bayesAuc); // a different test split
    expect(c.bayesAuc).not.toBe(a.bayesAuc);
  });

  it('makes the directory it writes into (the README runs it on a fresh clone)', async () => {
    const out = join(dir, 'fresh', 'var', 'data', 'train.txt');
    const report = await generateSynthetic({ rows: 200, seed: 5, out });
    expect(readFileSync(out, 'utf8').split('\n')).toHaveLength(report.rows + 1);
  });

  it('writes Criteo rows whose reported Bayes AUC and logloss are those of the true model on the test split', async () => {
    const out = join(dir, 'criteo.tsv');
    const report = await generateSynthetic({ rows: 30000, seed: 11, out });
    expect(report).toMatchObject({ rows: 30000, out, profile: 'criteo', fields: 26, dense: 13 });
    expect(report.split).toEqual({ train: 25715, test: 2143, validation: 2142 });
    expect(report.positiveRate).toBeGreaterThan(0.22);
    expect(report.positiveRate).toBeLessThan(0.28);
    expect(report.bayesAuc).toBeGreaterThan(0.7);
    expect(report.bayesAuc).toBeLessThan(0.9);
    // Better than the constant predictor at the base rate (its logloss is the label entropy).
    expect(report.bayesLogloss).toBeLessThan(entropy(report.positiveRate) - 0.05);
    const again = await bayesFromFile({ path: out, format: CRITEO_FORMAT }, report);
    expect(again.testRows).toBe(2143);
    expect(again.auc).toBeCloseTo(report.bayesAuc, 12);
    expect(again.logloss).toBeCloseTo(report.bayesLogloss, 12);
    expect(again.positiveRate).toBe(report.positiveRate);
  });

  it('writes Avazu CSV (header, 64-bit ids, 10 days of hours) that the Avazu reader and last-day split take', async () => {
    const out = join(dir, 'avazu.csv.gz');
    const report = await generateSynthetic({ rows: 24000, seed: 3, out, profile: 'avazu' });
    expect(readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(report).toMatchObject({
      profile: 'avazu',
      fields: 22,
      dense: 0,
      split: { train: 21600, test: 1200, validation: 1200 },
    });
    expect(report.positiveRate).toBeGreaterThan(0.14);
    expect(report.positiveRate).toBeLessThan(0.2);
    const reader = await TabularReader.open({ path: out, format: AVAZU_FORMAT });
    expect(reader.layout.categoricalNames).toEqual(AVAZU_CATEGORICAL);
    const hours = new Set<string>();
    const ids = new Set<string>();
    let lastDay = -1;
    for await (const b of reader.batches())
      for (let r = 0; r < b.size; r += 1) {
        hours.add(b.categorical[r * 22] as string);
        ids.add(b.keys?.[r] ?? '');
        if (b.categorical[r * 22]?.startsWith('141030') && lastDay < 0)
          lastDay = b.rowIndex[r] as number;
      }
    expect(hours.size).toBe(240);
    expect(ids.size).toBe(24000); // 64-bit ids (the reader checked their format)
    expect(lastDay).toBe(report.split.train);
    const again = await bayesFromFile({ path: out, format: AVAZU_FORMAT }, report);
    expect(again.auc).toBeCloseTo(report.bayesAuc, 12);
    expect(report.bayesAuc).toBeGreaterThan(0.6);
  });

  it('scales the Criteo cardinalities and draws Zipf frequencies from them', async () => {
    expect(scaledCardinality(10131227, 0.001)).toBe(10131);
    expect(scaledCardinality(3, 0.001)).toBe(3);
    expect(scaledCardinality(583, 0.001)).toBe(100);
    expect(scaledCardinality(583, 10)).toBe(583);
    const model = SyntheticModel.create({ profile: 'criteo', seed: 1, scale: 0.01 });
    expect(model.cardinalities[2]).toBe(101312);
    expect(model.cardinalities[8]).toBe(3);
    // The Bayes ceiling is known for any shape: a model without interactions has one too.
    const linear = await generateSynthetic({
      rows: 3000,
      seed: 1,
      out: join(dir, 'lin.tsv'),
      interactionStd: 0,
      scale: 0.01,
    });
    expect(linear.cardinalities[2]).toBe(101312);
    expect(linear.bayesAuc).toBeGreaterThan(0.5);
  });

  it('samples Zipf ranks with the exact probabilities, through the alias table and by rejection', () => {
    for (const n of [50, ZIPF_ALIAS_MAX + 1]) {
      const z = new ZipfSampler(n, 1.1);
      const rng = new Prng(n);
      const draws = 200000;
      const counts = new Map<number, number>();
      let outside = 0;
      for (let i = 0; i < draws; i += 1) {
        const k = z.sample(() => rng.next());
        if (!(k >= 1 && k <= n && Number.isInteger(k))) outside += 1;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      expect(outside).toBe(0);
      for (const k of [1, 2, 3, 10]) {
        const p = z.probability(k);
        const sd = Math.sqrt((p * (1 - p)) / draws);
        expect(Math.abs((counts.get(k) ?? 0) / draws - p)).toBeLessThan(4.5 * sd);
      }
    }
  });

  it('refuses bad arguments', async () => {
    const bad = (o: Parameters<typeof generateSynthetic>[0]) =>
      generateSynthetic(o).catch((e: unknown) => e);
    expect(await bad({ rows: 0, seed: 1, out: join(dir, 'x') })).toBeInstanceOf(DataError);
    expect(String(await bad({ rows: 10, seed: -1, out: join(dir, 'x') }))).toMatch(
      /seed must be an integer/,
    );
    expect(String(await bad({ rows: 10, seed: 1, out: join(dir, 'x'), scale: 0 }))).toMatch(
      /scale must be > 0/,
    );
    // A directory that cannot be made: its would-be parent is a file.
    writeFileSync(join(dir, 'a-file'), '');
    expect(String(await bad({ rows: 10, seed: 1, out: join(dir, 'a-file', 'x') }))).toMatch(
      /EEXIST|ENOTDIR/,
    );
  });
});
