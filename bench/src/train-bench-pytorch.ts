// `embpress bench train --vs pytorch`: each model trained by embpress's trainer and by a small
// PyTorch script the project owns (torch_reference.py, beside this file) on the same prepared
// data (same vocabulary, same train / validation / test split, same batch order), from the same
// initial weights (the trainer's seeded embedding table and dense weights are written out and
// loaded by the script), with the same optimizer (lazy sparse rows, dense weights) and the same
// part / validation / early-stop loop. Both sides' test predictions are scored here by the same
// AUC and logloss code. A benchmark only: python3 and torch are never a CI dependency.
//
// The schedule is resolved once per data set as `embpress train` resolves it (flags given win,
// the rest chosen from the training split's size, docs/models.md#training-defaults) and handed to
// both sides, the learning-rate factor of every planned step included (lr-schedule.ts), so the
// script needs no copy of the policy. Dropout masks are each library's own draws (same rate).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { generateSynthetic, type PreparedDataset, type SplitName } from '@embpress/data';
import {
  createModel,
  initBackend,
  logloss,
  parseModelConfig,
  rocAuc,
  type BackendChoice,
  type ModelKind,
} from '@embpress/models';
import { BenchSetupError } from './bench-setup-error';

type Trainer = typeof import('@embpress/training');
type ScheduleChoice = import('@embpress/training').ScheduleChoice;
type ResolvedSchedule = import('@embpress/training').ResolvedSchedule;
type TrainPreset = import('@embpress/training').TrainPreset;

export const VS_PYTORCH_SCRIPT = join(__dirname, 'torch_reference.py');

export interface VsPytorchOptions {
  /** A dataset (KIND:PATH or a prepared directory); absent: synthetic rows per seed. */
  data?: string;
  test?: string;
  /** Synthetic rows per seed (when no data is given). */
  rows: number;
  /** Synthetic generator's cardinality scale. */
  scale: number;
  /** One run per seed: the synthetic data's seed (when generated) and the weights' seed. */
  seeds: number[];
  models: ModelKind[];
  training: {
    /** The schedule flags given; the others are chosen per data set. */
    explicit: ScheduleChoice;
    preset: TrainPreset;
    dim: number;
    modelOverrides: Record<string, unknown>;
  };
  backend: BackendChoice;
  python: string;
  /** torch.set_num_threads. */
  threads: number;
  workDir: string;
  trainer: Trainer;
  log: (line: string) => void;
}

export interface SideResult {
  testAuc: number;
  testLogloss: number;
  valAuc: number;
  samplesPerSec: number;
  partsRun: number;
  bestPart: number;
}

export interface VsRun {
  seed: number;
  model: ModelKind;
  embpress: SideResult;
  pytorch: SideResult;
  /** embpress − pytorch test AUC. */
  aucDiff: number;
  /** embpress / pytorch training samples per second. */
  speedRatio: number;
}

export interface VsSummary {
  model: ModelKind;
  seeds: number;
  embpress: { testAuc: number; testLogloss: number; samplesPerSec: number };
  pytorch: { testAuc: number; testLogloss: number; samplesPerSec: number };
  /** Mean over seeds of embpress − pytorch test AUC. */
  aucDiff: number;
  speedRatio: number;
}

export interface VsPytorchReport {
  what: 'vs-pytorch';
  data: string;
  torch: string;
  torchThreads: number;
  backend: string;
  training: VsPytorchOptions['training'];
  /** The schedule each seed's data got (the same for both sides). */
  schedules: Record<string, Omit<ResolvedSchedule, 'source'>>;
  bayesAuc: Record<string, number>;
  runs: VsRun[];
  summary: VsSummary[];
}

/** The torch version, or a BenchSetupError naming what is missing. */
export function checkTorch(python: string): string {
  const r = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], {
    encoding: 'utf8',
  });
  if (r.error !== undefined)
    throw new BenchSetupError(
      `--vs pytorch needs ${python} (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Python 3 or pass --python PATH`,
    );
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    throw new BenchSetupError(
      `--vs pytorch needs torch and numpy importable by ${python} (${last}); install them with: pip install torch`,
    );
  }
  return r.stdout.trim();
}

const SPLITS: SplitName[] = ['train', 'validation', 'test'];

/** The prepared splits as flat arrays in file order (what torch_reference.py reads). */
async function exportSplits(ds: PreparedDataset, dir: string): Promise<Record<SplitName, number>> {
  mkdirSync(dir, { recursive: true });
  const rows = {} as Record<SplitName, number>;
  for (const split of SPLITS) {
    const files = ['sparse.u32', 'dense.f32', 'labels.f32'].map((ext) =>
      createWriteStream(join(dir, `${split}.${ext}`)),
    );
    let n = 0;
    for await (const b of ds.batches(split, { batchSize: 8192, dropLast: false })) {
      const parts = [b.sparse, b.dense, b.labels];
      for (let i = 0; i < 3; i += 1) {
        const a = parts[i] as Uint32Array | Float32Array;
        const ws = files[i] as ReturnType<typeof createWriteStream>;
        if (!ws.write(Buffer.from(a.buffer, a.byteOffset, a.byteLength))) await once(ws, 'drain');
      }
      n += b.size;
    }
    for (const ws of files) {
      ws.end();
      await once(ws, 'finish');
    }
    rows[split] = n;
  }
  return rows;
}

function runPython(python: string, script: string, dir: string, log: (l: string) => void) {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(python, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim() !== '') log(line.trimEnd());
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${script} exited with ${code}: ${tail.trim().split('\n').pop()}`));
    });
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function benchVsPytorch(o: VsPytorchOptions): Promise<VsPytorchReport> {
  const torchVersion = checkTorch(o.python);
  if (!existsSync(VS_PYTORCH_SCRIPT))
    throw new BenchSetupError(`the reference script ${VS_PYTORCH_SCRIPT} is missing`);
  mkdirSync(o.workDir, { recursive: true });
  const datasetCacheDir = join(o.workDir, 'datasets');
  const backend = await initBackend(o.backend);
  const runs: VsRun[] = [];
  const bayesAuc: Record<string, number> = {};
  const schedules: VsPytorchReport['schedules'] = {};
  for (const seed of o.seeds) {
    let data = o.data;
    if (data === undefined) {
      const file = join(o.workDir, `synth-${o.rows}-seed${seed}-scale${o.scale}.tsv`);
      const report = await generateSynthetic({
        rows: o.rows,
        seed,
        out: file,
        profile: 'criteo',
        scale: o.scale,
        log: o.log,
      });
      bayesAuc[String(seed)] = report.bayesAuc;
      data = `criteo:${file}`;
    }
    const ds = await o.trainer.openDataset({
      data,
      ...(o.test === undefined ? {} : { test: o.test }),
      cacheRoot: datasetCacheDir,
      log: o.log,
    });
    const dataDir = join(o.workDir, `arrays-seed${seed}`);
    const splitRows = await exportSplits(ds, dataDir);
    const numFields = ds.info.layout.categorical.length;
    const numDense = ds.info.layout.dense.length;
    const resolved = o.trainer.resolveTrainingDefaults(
      splitRows.train,
      o.training.explicit,
      o.training.preset,
    );
    o.log(resolved.summary);
    const { source: _source, ...chosen } = resolved;
    schedules[String(seed)] = chosen;
    const t = { ...resolved, dim: o.training.dim, modelOverrides: o.training.modelOverrides };
    const batchesPerEpoch = Math.floor(splitRows.train / t.batchSize);
    const parts = Math.min(t.partsPerEpoch, batchesPerEpoch);
    const schedule = o.trainer.partBatches(batchesPerEpoch, parts);
    const totalParts = Math.max(1, Math.floor(t.epochs * parts));
    // The learning-rate factor of every planned step, as train() computes it.
    let plannedSteps = 0;
    for (let p = 0; p < totalParts; p += 1) plannedSteps += schedule[p % parts] as number;
    const lrPlan = {
      schedule: t.lrSchedule,
      warmupSteps: t.warmupSteps,
      totalSteps: plannedSteps,
    };
    const lrFactors = Array.from({ length: plannedSteps }, (_, k) => o.trainer.lrFactor(lrPlan, k));
    for (const kind of o.models) {
      o.log(`seed ${seed}, ${kind}: embpress`);
      const ours = await o.trainer.train({
        data,
        ...(o.test === undefined ? {} : { test: o.test }),
        model: kind,
        modelOverrides: { dim: t.dim, ...t.modelOverrides },
        method: 'full',
        epochs: t.epochs,
        batchSize: t.batchSize,
        lr: t.lr,
        optimizer: t.optimizer,
        partsPerEpoch: t.partsPerEpoch,
        earlyStopParts: t.earlyStopParts,
        amsgrad: t.amsgrad,
        dropout: t.dropout,
        lrSchedule: t.lrSchedule,
        warmupSteps: t.warmupSteps,
        seed,
        backend: o.backend,
        registryRoot: join(o.workDir, 'models'),
        modelName: `vs-${kind}-seed${seed}`,
        datasetCacheDir,
        checkpoints: false,
        onProgress: (e) => {
          if (e.kind === 'part')
            o.log(
              `  embpress part ${e.part}/${e.parts}: loss ${e.loss.toFixed(4)}, val AUC ${e.valAuc.toFixed(4)}`,
            );
          // The trainer's own lines (its setup, and e.g. why a validation AUC is undefined).
          else if (e.kind === 'log') o.log(`  embpress: ${e.message}`);
        },
      });
      // The trainer's starting point, rebuilt from the same seed: the table and the weights.
      const config = parseModelConfig({
        dim: t.dim,
        ...t.modelOverrides,
        kind,
        numDense,
        numFields,
      });
      const trained = (ours.manifest as unknown as Record<string, unknown>)['architecture'];
      if (JSON.stringify(config) !== JSON.stringify(trained))
        throw new Error(`${kind}: the rebuilt architecture differs from the trained one`);
      const shape = { fields: ds.vocabulary.cardinalities(), dim: config.dim };
      const emb = o.trainer.setupEmbedding({
        spec: 'full',
        shape,
        seed,
        optimizer: t.optimizer,
        lr: t.lr,
        log: () => undefined,
      });
      const [table] = emb.trainable.parameters();
      if (table === undefined) throw new Error('the full table has no parameter');
      const model = createModel(config, { seed });
      const weights = model.exportWeights();
      model.dispose();
      const runDir = join(o.workDir, `torch-${kind}-seed${seed}`);
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(runDir, 'init.table.f32'), table.data);
      let offset = 0;
      const layout = weights.map((w) => {
        const entry = { name: w.name, shape: w.shape, offset };
        offset += w.values.length;
        return entry;
      });
      const blob = new Float32Array(offset);
      weights.forEach((w, i) => blob.set(w.values, (layout[i] as { offset: number }).offset));
      writeFileSync(join(runDir, 'init.weights.f32'), blob);
      writeFileSync(
        join(runDir, 'meta.json'),
        JSON.stringify({
          config,
          seed,
          threads: o.threads,
          dataDir,
          splitRows,
          tableRows: table.data.length / config.dim,
          weights: layout,
          optimizer: t.optimizer,
          lr: t.lr,
          batchSize: t.batchSize,
          schedule,
          totalParts,
          earlyStopParts: t.earlyStopParts,
          amsgrad: t.amsgrad,
          dropout: t.dropout,
          lrFactors,
        }),
      );
      o.log(`seed ${seed}, ${kind}: pytorch`);
      await runPython(o.python, VS_PYTORCH_SCRIPT, runDir, o.log);
      const torchResult = JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as {
        /** null when undefined (a validation split of one class: the script writes strict JSON). */
        valAuc: number | null;
        samplesPerSec: number;
        partsRun: number;
        bestPart: number;
      };
      // A copy of exactly the file's bytes: a small file's Buffer is a view into a shared pool.
      const predBytes = readFileSync(join(runDir, 'test.pred.f32'));
      const pred = new Float32Array(
        predBytes.buffer.slice(predBytes.byteOffset, predBytes.byteOffset + predBytes.byteLength),
      );
      const labels = ours.test.labels;
      if (pred.length !== labels.length)
        throw new Error(
          `${kind}: pytorch scored ${pred.length} test rows, embpress ${labels.length}`,
        );
      const embpress: SideResult = {
        testAuc: ours.metrics.testAuc,
        testLogloss: ours.metrics.testLogloss,
        valAuc: ours.metrics.valAuc,
        samplesPerSec: ours.samplesPerSec,
        partsRun: ours.partsRun,
        bestPart: ours.bestPart,
      };
      const pytorch: SideResult = {
        testAuc: rocAuc(pred, labels),
        testLogloss: logloss(pred, labels),
        valAuc: torchResult.valAuc ?? Number.NaN,
        samplesPerSec: torchResult.samplesPerSec,
        partsRun: torchResult.partsRun,
        bestPart: torchResult.bestPart,
      };
      const run: VsRun = {
        seed,
        model: kind,
        embpress,
        pytorch,
        aucDiff: embpress.testAuc - pytorch.testAuc,
        speedRatio: embpress.samplesPerSec / pytorch.samplesPerSec,
      };
      o.log(
        `seed ${seed}, ${kind}: AUC embpress ${embpress.testAuc.toFixed(4)} vs pytorch ${pytorch.testAuc.toFixed(4)} (${run.aucDiff >= 0 ? '+' : ''}${run.aucDiff.toFixed(4)}); samples/s ${Math.round(embpress.samplesPerSec)} vs ${Math.round(pytorch.samplesPerSec)}`,
      );
      runs.push(run);
    }
  }
  const summary = o.models.map((model): VsSummary => {
    const rs = runs.filter((r) => r.model === model);
    const side = (k: 'embpress' | 'pytorch') => ({
      testAuc: mean(rs.map((r) => r[k].testAuc)),
      testLogloss: mean(rs.map((r) => r[k].testLogloss)),
      samplesPerSec: mean(rs.map((r) => r[k].samplesPerSec)),
    });
    const e = side('embpress');
    const p = side('pytorch');
    return {
      model,
      seeds: rs.length,
      embpress: e,
      pytorch: p,
      aucDiff: e.testAuc - p.testAuc,
      speedRatio: e.samplesPerSec / p.samplesPerSec,
    };
  });
  return {
    what: 'vs-pytorch',
    data: o.data ?? `synthetic criteo ${o.rows} rows, scale ${o.scale}`,
    torch: torchVersion,
    torchThreads: o.threads,
    backend: backend.name,
    training: o.training,
    schedules,
    bayesAuc,
    runs,
    summary,
  };
}
