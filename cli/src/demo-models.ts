// The embedded default of `npm start` (= `embpress serve all --demo`) and of `embpress bench
// ranker`: a DLRM trained on synthetic Criteo-shaped data, published as model `demo`, and the
// @sap-ux/fiori-docs-embeddings documentation chunks (their text, encoded by the in-project
// TF-IDF + SVD encoder) published as corpus `docs`. These are the names the load-test scenarios
// target (loadtest/scenarios), so a fresh clone can serve, trace and load-test with nothing else.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { lazyRequire } from './lazy';

type Trainer = typeof import('@embpress/training');
type Corpus = typeof import('@embpress/corpus');

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
  const { train } = lazyRequire<Trainer>('@embpress/training');
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

/** Model and corpus names of the embedded default (the load-test scenarios' defaults). */
export const DEMO_MODEL = 'demo';
export const DEMO_CORPUS = 'docs';

/**
 * Publishes the embedded defaults into `registryRoot` unless they already have an active version
 * there (a second `npm start` reuses them; delete the directories to rebuild). The corpus needs
 * the devDependency @sap-ux/fiori-docs-embeddings; without it the corpus is skipped with a note.
 */
export async function ensureDemoModels(
  registryRoot: string,
  workDir: string,
  log: (line: string) => void,
): Promise<void> {
  const dir = new ModelRegistryDir(registryRoot);
  // A start interrupted between export and activation left a complete v1: verify and activate it.
  for (const name of [DEMO_MODEL, DEMO_CORPUS])
    if (dir.activeVersion(name) === undefined && dir.versions(name).includes('v1')) {
      dir.readVersion(name, 'v1');
      dir.setActiveVersion(name, 'v1');
      log(`${name}: activated the existing version v1`);
    }
  const activeModel = dir.activeVersion(DEMO_MODEL);
  if (activeModel === undefined) {
    await trainDemoRanker({
      rows: 50_000,
      seed: 1,
      method: 'rowwise-int8',
      arch: 'small',
      registryRoot,
      workDir: join(workDir, 'ranker'),
      model: DEMO_MODEL,
      version: 'v1',
      log,
    });
  } else log(`${DEMO_MODEL}: active version ${activeModel} kept`);

  const activeCorpus = dir.activeVersion(DEMO_CORPUS);
  if (activeCorpus === undefined) {
    const r = lazyRequire<Corpus>('@embpress/corpus');
    let passages;
    try {
      passages = r.readMiniLmCorpus().passages;
    } catch (err) {
      log(`${DEMO_CORPUS}: skipped (${(err as Error).message})`);
      return;
    }
    const result = r.ingestCorpus({
      registryRoot,
      corpus: DEMO_CORPUS,
      version: 'v1',
      passages,
      vectors: { kind: 'lsa', dim: 256, seed: 42 },
      codec: 'rowwise-int8',
      keepFp32: true,
      seed: 42,
    });
    dir.setActiveVersion(DEMO_CORPUS, result.version);
    log(
      `ingested ${DEMO_CORPUS}/${result.version}: ${result.rows} passages × ${result.dim} (TF-IDF + SVD), ${result.spec}`,
    );
  } else log(`${DEMO_CORPUS}: active version ${activeCorpus} kept`);
}
