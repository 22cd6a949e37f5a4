// `embpress bench train --what quality`: on synthetic Criteo-format data with a known Bayes AUC,
// for each size: `full` DLRM (through the trainer's engine) and a plain factorization machine on
// the same prepared split; the distance of each to the generator's Bayes-optimal test AUC.
// The synthetic file and its report are kept in the work directory and reused by a later run with
// the same rows, seed and scale (generation of 1M rows takes a while).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic, type SynthReport } from '@embpress/data';
import type { BackendChoice, FmOptimizerKind } from '@embpress/models';
import { trainFm, type FmResult } from './train-bench-fm';

type Trainer = typeof import('@embpress/training');
type TrainOptimizer = import('@embpress/training').TrainOptimizer;

export interface QualityOptions {
  rows: number[];
  seed: number;
  scale: number;
  workDir: string;
  dlrm: {
    epochs: number;
    batchSize: number;
    lr: number;
    optimizer: TrainOptimizer;
    sparseL2: number;
    partsPerEpoch: number;
    earlyStopParts: number;
    dim: number;
    modelOverrides?: Record<string, unknown>;
  };
  fm: {
    factors: number;
    maxEpochs: number;
    patience: number;
    batchSize: number;
    optimizer: FmOptimizerKind;
    lr: number;
    l2: number;
  };
  backend: BackendChoice;
  trainer: Trainer;
  log: (line: string) => void;
}

export interface QualityRow {
  rows: number;
  split: { train: number; validation: number; test: number };
  bayesAuc: number;
  bayesLogloss: number;
  dlrm: {
    valAuc: number;
    testAuc: number;
    testLogloss: number;
    trainSeconds: number;
    samplesPerSec: number;
    partsRun: number;
    bestPart: number;
    epochs: number;
  };
  fm: FmResult;
  /** bayesAuc − testAuc. */
  gap: { dlrm: number; fm: number };
  synthSeconds: number;
  synthReused: boolean;
}

export interface QualityReport {
  what: 'quality';
  backend: string;
  seed: number;
  scale: number;
  results: QualityRow[];
  checks: {
    /** The DLRM's gap to the Bayes AUC shrinks with every larger size. */
    dlrmGapShrinks: boolean;
    /** DLRM test AUC ≥ FM test AUC, per size. */
    dlrmAtLeastFm: boolean[];
  };
}

async function synthFile(
  o: QualityOptions,
  rows: number,
): Promise<{ file: string; report: SynthReport; reused: boolean }> {
  const base = join(o.workDir, `synth-criteo-${rows}-seed${o.seed}-scale${o.scale}`);
  const file = `${base}.tsv`;
  const meta = `${base}.json`;
  if (existsSync(file) && existsSync(meta)) {
    const report = JSON.parse(readFileSync(meta, 'utf8')) as SynthReport;
    o.log(`reusing ${file} (Bayes test AUC ${report.bayesAuc.toFixed(4)})`);
    return { file, report, reused: true };
  }
  const report = await generateSynthetic({
    rows,
    seed: o.seed,
    out: file,
    profile: 'criteo',
    scale: o.scale,
    log: o.log,
  });
  writeFileSync(meta, `${JSON.stringify(report)}\n`);
  return { file, report, reused: false };
}

export async function benchQuality(o: QualityOptions): Promise<QualityReport> {
  mkdirSync(o.workDir, { recursive: true });
  const datasetCacheDir = join(o.workDir, 'datasets');
  const results: QualityRow[] = [];
  let backendName = '';
  for (const rows of o.rows) {
    const synth = await synthFile(o, rows);
    const data = `criteo:${synth.file}`;
    o.log(`${rows} rows: training full DLRM`);
    const dlrm = await o.trainer.train({
      data,
      model: 'dlrm',
      modelOverrides: { dim: o.dlrm.dim, ...o.dlrm.modelOverrides },
      method: 'full',
      epochs: o.dlrm.epochs,
      batchSize: o.dlrm.batchSize,
      lr: o.dlrm.lr,
      optimizer: o.dlrm.optimizer,
      sparseL2: o.dlrm.sparseL2,
      partsPerEpoch: o.dlrm.partsPerEpoch,
      earlyStopParts: o.dlrm.earlyStopParts,
      seed: o.seed,
      backend: o.backend,
      registryRoot: join(o.workDir, 'models'),
      modelName: `quality-${rows}`,
      datasetCacheDir,
      onProgress: (e) => {
        if (e.kind === 'part')
          o.log(
            `  part ${e.part}/${e.parts}: ${Math.round(e.samplesPerSec)} rows/s, loss ${e.loss.toFixed(4)}, val AUC ${e.valAuc.toFixed(4)}`,
          );
        else if (e.kind === 'log') o.log(`  ${e.message}`);
      },
    });
    backendName = dlrm.backend;
    // The same prepared cache the trainer used (same source identity, same cache root).
    const ds = await o.trainer.openDataset({ data, cacheRoot: datasetCacheDir, log: o.log });
    const split = { ...ds.info.rows };
    if (split.test !== synth.report.split.test)
      throw new Error(
        `${synth.file}: the prepared test split has ${split.test} rows, the generator's Bayes AUC is over ${synth.report.split.test}`,
      );
    o.log(`${rows} rows: training the factorization machine`);
    const fm = await trainFm(ds, { ...o.fm, seed: o.seed, log: (l) => o.log(`  ${l}`) });
    const row: QualityRow = {
      rows,
      split,
      bayesAuc: synth.report.bayesAuc,
      bayesLogloss: synth.report.bayesLogloss,
      dlrm: {
        valAuc: dlrm.metrics.valAuc,
        testAuc: dlrm.metrics.testAuc,
        testLogloss: dlrm.metrics.testLogloss,
        trainSeconds: dlrm.trainSeconds,
        samplesPerSec: dlrm.samplesPerSec,
        partsRun: dlrm.partsRun,
        bestPart: dlrm.bestPart,
        epochs: o.dlrm.epochs,
      },
      fm,
      gap: {
        dlrm: synth.report.bayesAuc - dlrm.metrics.testAuc,
        fm: synth.report.bayesAuc - fm.testAuc,
      },
      synthSeconds: synth.reused ? 0 : synth.report.seconds,
      synthReused: synth.reused,
    };
    o.log(
      `${rows} rows: Bayes ${row.bayesAuc.toFixed(4)}, DLRM ${row.dlrm.testAuc.toFixed(4)} (gap ${row.gap.dlrm.toFixed(4)}), FM ${fm.testAuc.toFixed(4)} (gap ${row.gap.fm.toFixed(4)})`,
    );
    results.push(row);
  }
  return {
    what: 'quality',
    backend: backendName,
    seed: o.seed,
    scale: o.scale,
    results,
    checks: {
      dlrmGapShrinks: results.every(
        (r, i) => i === 0 || r.gap.dlrm < (results[i - 1] as QualityRow).gap.dlrm,
      ),
      dlrmAtLeastFm: results.map((r) => r.dlrm.testAuc >= r.fm.testAuc),
    },
  };
}
