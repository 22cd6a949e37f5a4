// The training engine end to end on a small synthetic Criteo file: it learns, stops early,
// exports a version the registry verifies, and the export reproduces the trainer's test numbers.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '@embpress/compression';
import { generateSynthetic, PreparedDataset, type SynthReport } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { loadModel, logloss, rocAuc } from '@embpress/models';
import { partBatches, train, type TrainOptions, type TrainProgress } from './train';

// Small layers keep a part well under a second; the loop is the same at the reference sizes.
const TINY = { dim: 8, bottom: [16], top: [16] };

let dir: string;
let file: string;
let synth: SynthReport;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-train-'));
  file = join(dir, 'train.txt');
  synth = await generateSynthetic({ rows: 6000, seed: 11, out: file });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(overrides: Partial<TrainOptions>): TrainOptions {
  return {
    data: `criteo:${file}`,
    model: 'dlrm',
    modelOverrides: TINY,
    method: 'full',
    epochs: 1,
    batchSize: 128,
    lr: 0.01,
    optimizer: 'adam',
    partsPerEpoch: 4,
    earlyStopParts: 3,
    seed: 5,
    backend: 'wasm',
    registryRoot: join(dir, 'models'),
    modelName: 'ctr',
    ...overrides,
  };
}

describe('partBatches', () => {
  it('splits an epoch like the reference: floor(B/P), +1 for the first B mod P parts', () => {
    expect(partBatches(10, 4)).toEqual([3, 3, 2, 2]);
    expect(partBatches(8, 4)).toEqual([2, 2, 2, 2]);
  });
});

describe('train', () => {
  it('learns the synthetic signal and exports exactly the state it scored', async () => {
    const events: TrainProgress[] = [];
    const result = await train(options({ version: 'v1', onProgress: (e) => events.push(e) }));
    const parts = events.filter((e) => e.kind === 'part');
    expect(parts).toHaveLength(4);
    expect(result.metrics.valAuc).toBeGreaterThan(0.55);
    expect(result.metrics.testAuc).toBeGreaterThan(0.52);
    // The generator's Bayes-optimal AUC is a ceiling no model can expect to pass (small noise
    // margin: a finite test split).
    expect(result.metrics.testAuc).toBeLessThan(synth.bayesAuc + 0.03);
    expect(result.memoryBytes).toBe(result.fullBytes);

    // The registry verifies the version; the artifact loads with the compression registry.
    const reg = new ModelRegistryDir(join(dir, 'models'));
    const loaded = reg.readVersion('ctr', 'v1');
    const m = loaded.manifest as Record<string, unknown>;
    expect(m).toMatchObject({
      method: 'full',
      budget: null,
      memoryBytes: result.memoryBytes,
      fullBytes: result.fullBytes,
      backend: 'wasm',
      feature: { dim: 8 },
      architecture: { kind: 'dlrm', numDense: 13, numFields: 26, dim: 8 },
    });
    expect((m.metrics as Record<string, number>).testAuc).toBe(result.metrics.testAuc);
    const table = registry.load(loaded.tables.get('sparse') as Uint8Array);
    expect(table.memoryBytes()).toBe(result.memoryBytes);

    // Its rows are the best snapshot's.
    const all = new Uint32Array(table.rows).map((_, i) => i);
    const a = new Float32Array(table.rows * table.dim);
    const b = new Float32Array(table.rows * table.dim);
    table.lookup(all, a);
    result.table.lookup(all, b);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);

    // dense.weights + the table reproduce the test predictions bit for bit.
    // A copy into a plain Uint8Array: libs/models' decoder reads `raw.slice().buffer`, which
    // for a Node Buffer is the whole (pooled) buffer (reported to the lead).
    const model = loadModel(new Uint8Array(readFileSync(join(loaded.dir, 'dense.weights'))));
    const ds = PreparedDataset.open(
      join(dir, 'models', '.datasets', readdirOne(join(dir, 'models', '.datasets'))),
    );
    expect(m.datasetFingerprint).toBe(ds.info.fingerprint);
    const preds: number[] = [];
    const labels: number[] = [];
    for await (const batch of ds.batches('test', { batchSize: 128 })) {
      const rows = new Float32Array(batch.size * 26 * 8);
      table.lookup(batch.sparse, rows);
      preds.push(...model.predict(batch.dense, rows));
      labels.push(...batch.labels);
    }
    model.dispose();
    expect(Float32Array.from(preds)).toEqual(result.test.predictions);
    expect(rocAuc(preds, labels)).toBe(result.metrics.testAuc);
    expect(logloss(preds, labels)).toBe(result.metrics.testLogloss);
    expect(JSON.parse(readFileSync(join(loaded.dir, 'vocabulary.json'), 'utf8'))).toEqual(
      ds.vocabulary.toJSON(),
    );
  });

  it('trains the embedding rows with their own optimizer and rate (rowwise-adagrad)', async () => {
    const events: TrainProgress[] = [];
    const result = await train(
      options({
        version: 'rowwise',
        sparseOptimizer: 'rowwise-adagrad',
        sparseLr: 0.05,
        checkpoints: false,
        onProgress: (e) => events.push(e),
      }),
    );
    const logs = events.flatMap((e) => (e.kind === 'log' ? [e.message] : []));
    expect(logs.some((l) => l.endsWith('; embedding rows: rowwise-adagrad lr 0.05 (flag)'))).toBe(
      true,
    );
    const manifest = result.manifest as unknown as { training: Record<string, unknown> };
    expect(manifest.training).toMatchObject({
      optimizer: 'adam',
      lr: 0.01,
      sparseOptimizer: 'rowwise-adagrad',
      sparseLr: 0.05,
    });
    expect(result.metrics.valAuc).toBeGreaterThan(0.55);
  });

  it('stops early after earlyStopParts parts without a better validation AUC', async () => {
    // A learning rate this large makes validation AUC fall after the first parts.
    const events: TrainProgress[] = [];
    const result = await train(
      options({
        version: 'v2',
        epochs: 4,
        lr: 0.5,
        optimizer: 'sgd',
        earlyStopParts: 1,
        onProgress: (e) => events.push(e),
      }),
    );
    const parts = events.filter((e) => e.kind === 'part');
    const stop = events.find((e) => e.kind === 'early-stop');
    expect(result.stoppedEarly).toBe(true);
    expect(stop).toBeDefined();
    expect(parts.length).toBeLessThan(16);
    const last = parts[parts.length - 1];
    expect(last?.kind === 'part' && last.partsWithoutImprovement).toBe(1);
    // The exported state is the best part's, not the last one's.
    const bestVal = Math.max(...parts.map((p) => (p.kind === 'part' ? p.valAuc : 0)));
    expect(result.metrics.valAuc).toBe(bestVal);
  });

  it('says so when the validation rows all have one label (AUC undefined), and still trains', async () => {
    // The validation split is the second half of the last of 7 chunks: the last ~430 rows.
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const oneClass = lines.map((line, i) =>
      i >= lines.length - 500 ? `0${line.slice(line.indexOf('\t'))}` : line,
    );
    const oneClassFile = join(dir, 'one-class-validation.txt');
    writeFileSync(oneClassFile, `${oneClass.join('\n')}\n`);
    const messages: string[] = [];
    const result = await train(
      options({
        data: `criteo:${oneClassFile}`,
        version: 'one-class',
        onProgress: (e) => {
          if (e.kind === 'log') messages.push(e.message);
        },
      }),
    );
    const warnings = messages.filter((m) => m.startsWith('validation AUC is undefined'));
    expect(warnings).toHaveLength(1);
    expect(Number.isNaN(result.metrics.valAuc)).toBe(true);
    expect(result.bestPart).toBe(1);
  });

  it('trains and exports a compressed method at a memory budget', async () => {
    const result = await train(options({ version: 'v3', method: 'hash', budget: 0.5 }));
    expect(result.method).toBe('hash');
    expect(result.budget).toBe(0.5);
    expect(result.memoryBytes).toBeLessThanOrEqual(0.5 * result.fullBytes);
    expect(result.metrics.valAuc).toBeGreaterThan(0.55);
    const loaded = new ModelRegistryDir(join(dir, 'models')).readVersion('ctr', 'v3');
    const table = registry.load(loaded.tables.get('sparse') as Uint8Array);
    expect(table.method).toBe('hash');
    expect(table.spec).toBe(result.spec);
  });

  it("turns a budget into the paper's parameters with accounting 'paper'", async () => {
    // robe counts its seeds in bytes, the paper's words do not: on this vocabulary the two
    // accountings give different array sizes at 0.24 (robe.spec checks the word formula itself).
    const result = await train(
      options({
        version: 'paper',
        method: 'robe',
        budget: 0.24,
        accounting: 'paper',
        checkpoints: false,
      }),
    );
    const manifest = result.manifest as unknown as {
      feature: { cardinalities: number[]; dim: number };
      accounting?: string;
    };
    const shape = { fields: manifest.feature.cardinalities, dim: manifest.feature.dim };
    const robe = registry.resolve('robe').method;
    const paper = registry.format(
      'robe',
      (robe.paramsForBudget?.(shape, 0.24, 'paper-words') ?? {}) as Record<string, unknown>,
    );
    const bytes = registry.format(
      'robe',
      (robe.paramsForBudget?.(shape, 0.24, 'bytes') ?? {}) as Record<string, unknown>,
    );
    expect(paper).not.toBe(bytes);
    expect(result.spec).toBe(paper);
    expect(manifest.accounting).toBe('paper');
    await expect(
      train(options({ version: 'paper-bad', accounting: 'words' as never })),
    ).rejects.toThrow(/accounting must be one of bytes, paper/);
  });

  it('applies a codec to the best trained fp32 snapshot', async () => {
    const result = await train(options({ version: 'v4', method: 'rowwise-int8' }));
    expect(result.spec).toBe('rowwise-int8');
    expect(result.memoryBytes).toBeLessThan(result.fullBytes / 2);
    const loaded = new ModelRegistryDir(join(dir, 'models')).readVersion('ctr', 'v4');
    const table = registry.load(loaded.tables.get('sparse') as Uint8Array);
    expect(table.method).toBe('rowwise-int8');
    // Validation is re-scored on the compressed rows, so it is the exported model's.
    expect((loaded.manifest as Record<string, unknown>).metrics).toMatchObject({
      valAuc: result.metrics.valAuc,
      testAuc: result.metrics.testAuc,
    });
    expect(result.metrics.valAuc).toBeGreaterThan(0.55);
  });

  it.each([
    ['wdl', { dim: 8, deep: [16] }],
    ['dcn', { dim: 8, deep: [16], crossLayers: 2 }],
    ['deepfm', { dim: 8, deep: [16] }],
    ['fm', { dim: 8 }],
  ] as const)('%s learns the synthetic signal too', async (model, modelOverrides) => {
    const result = await train(
      options({ version: `learns-${model}`, model, modelOverrides, checkpoints: false }),
    );
    expect(result.metrics.valAuc).toBeGreaterThan(0.55);
    expect(result.metrics.testAuc).toBeGreaterThan(0.52);
    expect(result.metrics.testAuc).toBeLessThan(synth.bayesAuc + 0.03);
    const loaded = new ModelRegistryDir(join(dir, 'models')).readVersion('ctr', `learns-${model}`);
    expect((loaded.manifest as Record<string, unknown>).architecture).toMatchObject({
      kind: model,
    });
  });

  it('refuses bad arguments before doing any work', async () => {
    await expect(train(options({ batchSize: 0 }))).rejects.toThrow(/batchSize/);
    await expect(train(options({ version: 'v1' }))).rejects.toThrow(/already exists/);
  });
});

function readdirOne(path: string): string {
  const [name] = readdirSync(path).filter((n) => !n.startsWith('.'));
  if (name === undefined) throw new Error(`nothing in ${path}`);
  return name;
}
