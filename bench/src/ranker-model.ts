// The demo model of `embpress bench ranker`: a DLRM trained on synthetic Criteo-shaped data,
// cached under --dir by its settings, and the offline scores of raw rows with its exported version
// (what the ranker's live scores are compared with).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { registry as codecs } from '@embpress/compression';
import { encodeBatch, synthSplit, Vocabulary } from '@embpress/data';
import { CTR_MODEL_FILES, ModelRegistryDir } from '@embpress/model-registry';
import { initBackend, loadModel } from '@embpress/models';
import { lazyRequire } from '@embpress/service-kit/config';
import type { RankerBenchOptions } from './ranker-report';
import type { RawRows } from './ranker-rows';

type Training = typeof import('@embpress/training');
export const training = () => lazyRequire<Training>('@embpress/training');

export const MODEL = 'demo';
export const VERSION = 'v1';

export interface DemoModel {
  source: string;
  registryRoot: string;
  testRange: { start: number; end: number };
}

export async function demoModel(options: RankerBenchOptions): Promise<DemoModel> {
  const settings = {
    rows: options.rows,
    seed: options.seed,
    method: options.method,
    arch: options.arch,
    format: 1,
  };
  const key = createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 12);
  const work = join(options.dir, key);
  mkdirSync(work, { recursive: true });
  const file = join(work, 'train.txt');
  const registryRoot = join(work, 'models');
  const source = `criteo:${file}`;
  const testRange = synthSplit('criteo', options.rows).test;
  if (testRange === undefined) throw new Error('the synthetic Criteo split has no test range');
  if (existsSync(join(registryRoot, MODEL, VERSION, 'manifest.json'))) {
    options.log(`reusing the demo model in ${registryRoot}`);
    return { source, registryRoot, testRange };
  }
  rmSync(registryRoot, { recursive: true, force: true });
  await training().trainDemoRanker({
    rows: options.rows,
    seed: options.seed,
    method: options.method,
    arch: options.arch,
    registryRoot,
    workDir: work,
    model: MODEL,
    version: VERSION,
    log: options.log,
  });
  return { source, registryRoot, testRange };
}

/**
 * Offline scores of raw rows with the exported version: the trainer's encoding (encodeBatch),
 * rows from the table artifact itself, the dense network from its weights. Keyed by data row.
 */
export async function offlineScores(
  registryRoot: string,
  data: RawRows,
): Promise<{ scores: Map<number, number>; manifest: Record<string, unknown> }> {
  await initBackend('wasm');
  const registry = new ModelRegistryDir(registryRoot);
  const version = registry.readVersion(MODEL, VERSION);
  const file = (name: string) => registry.readVersionFile(MODEL, VERSION, name, version.manifest);
  const vocabulary = Vocabulary.fromJSON(
    JSON.parse(new TextDecoder().decode(file(CTR_MODEL_FILES.vocabulary))),
  );
  const entry = version.manifest.tables[0];
  if (entry === undefined) throw new Error('the demo model has no table');
  const table = codecs.load(version.tables.get(entry.name) as Uint8Array);
  const net = loadModel(file(CTR_MODEL_FILES.denseWeights));
  const scores = new Map<number, number>();
  try {
    const nd = data.denseNames.length;
    const nc = data.categoricalNames.length;
    const batch = 1024;
    for (let start = 0; start < data.rows.length; start += batch) {
      const rows = data.rows.slice(start, start + batch);
      const enc = encodeBatch(
        {
          size: rows.length,
          labels: new Float32Array(rows.length),
          dense: Float64Array.from(rows.flatMap((r) => r.dense)),
          categorical: rows.flatMap((r) => r.categorical),
          keys: undefined,
          rowIndex: Float64Array.from(rows.map((r) => r.row)),
        },
        vocabulary,
      );
      if (enc.dense.length !== rows.length * nd || enc.sparse.length !== rows.length * nc)
        throw new Error('offline encoding: unexpected shapes');
      const gathered = new Float32Array(enc.sparse.length * table.dim);
      table.lookup(enc.sparse, gathered);
      const p = net.predict(enc.dense, gathered);
      rows.forEach((r, i) => scores.set(r.row, p[i] as number));
    }
  } finally {
    net.dispose();
  }
  return { scores, manifest: version.manifest as Record<string, unknown> };
}
