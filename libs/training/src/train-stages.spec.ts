// The staged engine end to end (docs/adr/0016-staged-training.md) on a small synthetic Criteo
// file: DeepLight's warm-up → prune, exported as its sparse table and scored exactly as exported;
// a crash at the stage boundary and one inside the second stage resume to the very bytes of an
// uninterrupted run; and the other kinds of stage (a frozen dense model with validation steps,
// a target, a re-initialised dense model, a stage without steps) run through the same loop.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry, totalRows } from '@embpress/compression';
import { generateSynthetic, PreparedDataset } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { loadModel } from '@embpress/models';
import { CheckpointRun } from './checkpoint';
import { train, type TrainOptions, type TrainProgress, type TrainResult } from './train';

const TINY = { dim: 4, bottom: [8], top: [8] };

let dir: string;
let file: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-stages-'));
  file = join(dir, 'train.txt');
  await generateSynthetic({ rows: 3000, seed: 4, out: file });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(overrides: Partial<TrainOptions>): TrainOptions {
  return {
    data: `criteo:${file}`,
    model: 'dlrm',
    modelOverrides: TINY,
    method: 'deeplight(warmupParts=2)',
    budget: 0.5,
    epochs: 1,
    batchSize: 100,
    lr: 0.01,
    optimizer: 'adam',
    partsPerEpoch: 3,
    earlyStopParts: 10,
    seed: 9,
    backend: 'wasm',
    registryRoot: join(dir, 'models'),
    modelName: 'ctr',
    ...overrides,
  };
}

const files = (version: string) => {
  const v = new ModelRegistryDir(join(dir, 'models')).readVersion('ctr', version);
  return {
    table: Buffer.from(v.tables.get('sparse') as Uint8Array),
    dense: readFileSync(join(v.dir, 'dense.weights')),
    manifest: v.manifest as Record<string, unknown>,
  };
};

class Crash extends Error {}

describe('deeplight through the staged engine', () => {
  let reference: TrainResult;
  const events: TrainProgress[] = [];

  beforeAll(async () => {
    reference = await train(options({ version: 'ref', onProgress: (e) => events.push(e) }));
  });

  it('runs warm-up then prune, each restarting the part counter, and reports both', () => {
    const seq = events.flatMap((e) =>
      e.kind === 'stage'
        ? [`stage ${e.name}`]
        : e.kind === 'part'
          ? [`${e.stage} ${e.part}/${e.parts}`]
          : [],
    );
    expect(seq).toEqual([
      'stage warmup',
      'warmup 1/2',
      'warmup 2/2',
      'stage prune',
      'prune 1/3',
      'prune 2/3',
      'prune 3/3',
    ]);
    const logs = events.flatMap((e) => (e.kind === 'log' ? [e.message] : []));
    expect(logs.some((l) => /^id frequencies over the training split/.test(l))).toBe(true);
    expect(logs.some((l) => /prune: deeplight: pruning to P = /.test(l))).toBe(true);
    expect(reference.stages.map((s) => [s.name, s.parts, s.end])).toEqual([
      ['warmup', 2, 'budget'],
      ['prune', 3, 'budget'],
    ]);
    // Prune parts count only once the ramp reached P: part 1 never does (no prune step yet).
    expect(reference.stages[1]?.keptPart).toBeGreaterThan(1);
    expect(reference.partsRun).toBe(5);
    expect(reference.bestPart).toBe(reference.stages[1]?.keptPart);
    expect(files('ref').manifest).toMatchObject({
      training: { stages: [{ name: 'warmup' }, { name: 'prune' }] },
    });
  });

  it('exports the sparse table within the budget and scores exactly what it exports', async () => {
    const { table: bytes, dense, manifest } = files('ref');
    const table = registry.load(bytes);
    expect(table.method).toBe('deeplight');
    expect(table.spec).toBe(reference.spec);
    expect(reference.memoryBytes).toBe(table.memoryBytes());
    expect(reference.memoryBytes).toBeLessThanOrEqual(0.5 * reference.fullBytes);
    // At most k = round(density·n·D) non-zero entries served.
    const rows = table.rows;
    const all = Uint32Array.from({ length: rows }, (_, i) => i);
    const out = new Float32Array(rows * table.dim);
    table.lookup(all, out);
    const density = Number(/density=([0-9.e-]+)/.exec(reference.spec)?.[1]);
    let nonZero = 0;
    for (const v of out) if (v !== 0) nonZero += 1;
    expect(nonZero).toBeLessThanOrEqual(Math.round(density * rows * table.dim));
    expect(nonZero).toBeGreaterThan(0);
    // Serving = training: the exported bytes reproduce the engine's test predictions.
    const model = loadModel(new Uint8Array(dense));
    const cache = join(dir, 'models', '.datasets');
    const [name] = readdirSync(cache).filter((n) => !n.startsWith('.'));
    const ds = PreparedDataset.open(join(cache, name as string));
    expect(totalRows({ fields: ds.vocabulary.cardinalities(), dim: 4 })).toBe(rows);
    const preds: number[] = [];
    for await (const b of ds.batches('test', { batchSize: 100 })) {
      const r = new Float32Array(b.size * 26 * 4);
      table.lookup(b.sparse, r);
      preds.push(...model.predict(b.dense, r));
    }
    model.dispose();
    expect(Float32Array.from(preds)).toEqual(reference.test.predictions);
    expect((manifest.metrics as Record<string, number>).testAuc).toBe(reference.metrics.testAuc);
    // Learning is not checked here: 2 + 3 parts of a 3000-row file teach even `full` nothing.
    expect(Number.isFinite(reference.metrics.testAuc)).toBe(true);
  });

  it('resumes a run stopped exactly at the stage boundary to the same bytes', async () => {
    await expect(
      train(
        options({
          version: 'boundary',
          onProgress: (e) => {
            if (e.kind === 'stage' && e.index === 1) throw new Crash('at the boundary');
          },
        }),
      ),
    ).rejects.toBeInstanceOf(Crash);
    const run = CheckpointRun.of(join(dir, 'models'), 'ctr', 'boundary');
    const meta = run.load(join(run.dir, run.parts()[0] as string)).meta;
    expect(meta).toMatchObject({ stageIndex: 0, stagePartsDone: 2, stageOver: true });
    const seen: TrainProgress[] = [];
    const resumed = await train(
      options({ version: 'boundary', resume: true, onProgress: (e) => seen.push(e) }),
    );
    expect(resumed.resumedFromPart).toBe(2);
    expect(seen.filter((e) => e.kind === 'part').map((e) => e.kind === 'part' && e.part)).toEqual([
      1, 2, 3,
    ]);
    expect(files('boundary').table.equals(files('ref').table)).toBe(true);
    expect(files('boundary').dense.equals(files('ref').dense)).toBe(true);
    expect(resumed.metrics).toEqual(reference.metrics);
    expect(resumed.stages).toEqual(reference.stages);
  });

  it('resumes a run stopped inside the prune stage to the same bytes', async () => {
    await expect(
      train(
        options({
          version: 'inside',
          onProgress: (e) => {
            if (e.kind === 'part' && e.stage === 'prune' && e.part === 2)
              throw new Crash('inside the prune stage');
          },
        }),
      ),
    ).rejects.toBeInstanceOf(Crash);
    const seen: TrainProgress[] = [];
    const resumed = await train(
      options({ version: 'inside', resume: true, onProgress: (e) => seen.push(e) }),
    );
    expect(resumed.resumedFromPart).toBe(4);
    expect(seen.find((e) => e.kind === 'resume')).toMatchObject({ stage: 'prune', stagePart: 2 });
    expect(files('inside').table.equals(files('ref').table)).toBe(true);
    expect(files('inside').dense.equals(files('ref').dense)).toBe(true);
  });
});

describe('every kind of stage runs through the same loop', () => {
  it.each([
    // warm-up, a search with the dense model frozen and validation steps, a retrain that meets
    // the budget.
    ['autosrh', ['warmup', 'search', 'retrain']],
    // a search that ends on its target, a lottery-ticket retrain (dense re-initialised).
    ['pep', ['search', 'retrain']],
    // a supernet, an evolutionary search with no training steps, a retrain.
    ['optembed', ['supernet', 'search', 'retrain']],
  ] as const)('%s', async (method, names) => {
    const stages: string[] = [];
    const result = await train(
      options({
        version: `kinds-${method}`,
        method,
        epochs: 2 / 3,
        checkpoints: false,
        onProgress: (e) => e.kind === 'stage' && stages.push(e.name),
      }),
    );
    expect(stages).toEqual(names);
    expect(result.stages.map((s) => s.name)).toEqual(names);
    for (const s of result.stages) {
      if (s.end === 'none') expect(s.parts).toBe(0);
      else expect(s.parts).toBeGreaterThan(0);
    }
    // optembed's ratio follows from its search, not from the budget.
    if (method !== 'optembed')
      expect(result.memoryBytes).toBeLessThanOrEqual(0.5 * result.fullBytes);
    expect(files(`kinds-${method}`).manifest).toMatchObject({ method: result.spec });
  });
});
