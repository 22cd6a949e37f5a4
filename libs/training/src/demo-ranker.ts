// The demo DLRM of the embedded default (`npm start` = `embpress serve all --demo`) and of
// `embpress bench ranker`: synthetic Criteo-shaped data, one epoch, exported and activated.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { train } from './train';

/**
 * The demo DLRM's dense layers (dim 16, Criteo's 13 dense and 26 categorical fields). `reference`
 * is the paper's DLRM (bottom 512-256-64, top 512-256); `small` (bottom 128-64, top 128-64) is
 * about 7x cheaper per candidate, which is what 200 requests/s × 100 candidates leaves room
 * for on two shared cores with the wasm backend (docs/benchmarks.md, Ranker).
 */
export const ARCHITECTURES = {
  reference: {},
  small: { bottom: [128, 64], top: [128, 64] },
} as const;
export type ArchName = keyof typeof ARCHITECTURES;

export interface DemoRankerOptions {
  rows: number;
  seed: number;
  /** Any method spec the trainer accepts (a codec is applied to the trained fp32 table). */
  method: string;
  arch: ArchName;
  registryRoot: string;
  /** Where the synthetic data and the prepared-dataset cache go. */
  workDir: string;
  model: string;
  version: string;
  log: (line: string) => void;
}

/**
 * Generates `rows` synthetic Criteo rows (the split and seed the ranker-rank scenario draws its
 * raw values from), trains the DLRM for one epoch, exports `model/version` and activates it.
 * Returns the synthetic data file and the test AUC.
 */
export async function trainDemoRanker(
  o: DemoRankerOptions,
): Promise<{ dataFile: string; testAuc: number }> {
  mkdirSync(o.workDir, { recursive: true });
  const dataFile = join(o.workDir, 'train.txt');
  if (!existsSync(dataFile)) {
    o.log(`generating ${o.rows} synthetic Criteo rows into ${dataFile}`);
    await generateSynthetic({ rows: o.rows, seed: o.seed, out: dataFile });
  }
  o.log(`training the demo DLRM (${o.method}) into ${o.registryRoot}`);
  const result = await train({
    data: `criteo:${dataFile}`,
    model: 'dlrm',
    modelOverrides: { dim: 16, ...ARCHITECTURES[o.arch] },
    method: o.method,
    epochs: 1,
    batchSize: 512,
    lr: 0.01,
    optimizer: 'adam',
    partsPerEpoch: 2,
    earlyStopParts: 2,
    seed: o.seed,
    backend: 'wasm',
    registryRoot: o.registryRoot,
    datasetCacheDir: join(o.workDir, 'datasets'),
    modelName: o.model,
    version: o.version,
    onProgress: (e) => {
      if (e.kind === 'part')
        o.log(
          `part ${e.part}/${e.parts}: ${Math.round(e.samplesPerSec)} samples/s, val AUC ${e.valAuc.toFixed(4)}`,
        );
    },
  });
  new ModelRegistryDir(o.registryRoot).setActiveVersion(o.model, o.version);
  o.log(`trained ${o.model}/${o.version}: test AUC ${result.metrics.testAuc.toFixed(4)}`);
  return { dataFile, testAuc: result.metrics.testAuc };
}
