// TrainerService on 127.0.0.1:0 with real jobs: each training runs in a child process
// (runner/train-child.ts) on a small synthetic Criteo file.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { generateSynthetic } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { trainer } from '@embpress/proto';
import { ServiceHost } from '@embpress/service-kit';
import { Trainings } from '../trainings';
import { TrainingJobs } from '../runner/training-jobs';
import { trainerHandlers } from './handlers';

const { TrainingState } = trainer;

let dir: string;
let data: string;
let registryRoot: string;
const trainings = new Trainings();
let jobs: TrainingJobs;
let host: ServiceHost;
let client: trainer.TrainerServiceClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-trainer-svc-'));
  data = join(dir, 'train.txt');
  registryRoot = join(dir, 'models');
  await generateSynthetic({ rows: 2000, seed: 6, out: data });
  const logger = pino({ level: 'silent' });
  jobs = new TrainingJobs(trainings, { registryRoot, maxConcurrentJobs: 1, logger });
  host = new ServiceHost({
    name: 'trainer',
    logger,
    config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 8 },
  });
  host.addService<trainer.TrainerServiceServer>(
    trainer.TrainerServiceService,
    trainerHandlers(trainings, jobs),
  );
  await host.start();
  host.markServing();
  client = new trainer.TrainerServiceClient(host.address, credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await jobs.stopAll();
  await host.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const unary = <Req, Res>(
  method: (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => unknown,
  request: Req,
) =>
  new Promise<{ err: ServiceError | null; res: Res }>((resolve) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
      resolve({ err, res }),
    ),
  );

const specOf = (patch: Partial<trainer.TrainingSpec> = {}): trainer.TrainingSpec =>
  trainer.TrainingSpec.fromPartial({
    data: `criteo:${data}`,
    testData: '',
    model: 'dlrm',
    method: 'qr(collisions=4)',
    budget: 0,
    epochs: 1,
    batchSize: 256,
    learningRate: 0.01,
    seed: 1,
    outputName: 'ctr',
    backend: 'wasm',
    ...patch,
  });

/** Every record WatchTraining sends until the stream ends. */
function watchAll(id: string): Promise<trainer.Training[]> {
  const seen: trainer.Training[] = [];
  const stream = client.watchTraining({ id });
  return new Promise((resolve, reject) => {
    stream.on('data', (m: trainer.WatchTrainingResponse) =>
      seen.push(m.training as trainer.Training),
    );
    stream.on('end', () => resolve(seen));
    stream.on('error', reject);
  });
}

const start = async (patch: Partial<trainer.TrainingSpec> = {}) => {
  const { err, res } = await unary(client.startTraining, { spec: specOf(patch) });
  if (err !== null) throw err;
  return res.training as trainer.Training;
};

describe('TrainerService', () => {
  it('refuses a bad spec with INVALID_ARGUMENT', async () => {
    const bad = async (patch: Partial<trainer.TrainingSpec>) => {
      const { err } = await unary(client.startTraining, { spec: specOf(patch) });
      expect(err?.code).toBe(status.INVALID_ARGUMENT);
      return err?.details;
    };
    expect(await bad({ data: 'criteo' })).toBe(
      'spec.data: must be KIND:PATH with KIND one of criteo, avazu, csv, got "criteo"',
    );
    expect(await bad({ data: 'parquet:/x' })).toBe(
      'spec.data: unknown data kind "parquet" (one of criteo, avazu, csv)',
    );
    expect(await bad({ data: `criteo:${join(dir, 'nope.txt')}` })).toBe(
      `spec.data: no such file: ${join(dir, 'nope.txt')}`,
    );
    expect(await bad({ model: 'bert' })).toBe(
      'spec.model: must be one of dlrm, wdl, dcn, deepfm, fm, got "bert"',
    );
    expect(await bad({ method: 'zip(level=9)' })).toMatch(/^spec\.method: .*zip/);
    expect(await bad({ budget: 1.5 })).toBe('spec.budget: must be in (0, 1], got 1.5');
    expect(await bad({ method: ' ' })).toMatch(/^spec\.method: is required/);
    expect(await bad({ outputName: '' })).toBe('spec.output_name: is required');
    expect(await bad({ backend: 'gpu' })).toBe(
      'spec.backend: must be one of auto, wasm, cpu, tensorflow, got "gpu"',
    );
    expect(await bad({ optimizer: 'rmsprop' })).toBe(
      'spec.optimizer: must be one of sgd, adagrad, adam, got "rmsprop"',
    );
    expect(await bad({ topMlp: [64, 0] })).toBe(
      'spec.top_mlp[1]: must be an integer in [1, 65536], got 0',
    );
    expect(await bad({ sparseL2: -1 })).toBe('spec.sparse_l2: must be >= 0, got -1');
    expect(await bad({ dropout: 1 })).toBe('spec.dropout: must be in [0, 1), got 1');
    expect(await bad({ lrSchedule: 'step' })).toBe(
      'spec.lr_schedule: must be one of constant, cosine, linear, got "step"',
    );
    expect(await bad({ preset: 'fast' })).toBe(
      'spec.preset: must be one of auto, paper, got "fast"',
    );
    expect(await bad({ accounting: 'words' })).toBe(
      'spec.accounting: must be one of bytes, paper, got "words"',
    );
    expect(await bad({ sparseOptimizer: 'lion' })).toBe(
      'spec.sparse_optimizer: must be one of sgd, adagrad, adam, rowwise-adagrad, got "lion"',
    );
    expect(await bad({ amsgrad: true, optimizer: 'sgd' })).toBe(
      'spec.amsgrad: needs optimizer adam, got sgd',
    );
    expect(trainings.list()).toEqual([]);
  });

  it('trains in a child process, streams progress to SUCCEEDED, and exports a verified version', async () => {
    const first = await start({
      optimizer: 'adagrad',
      sparseL2: 1e-4,
      dim: 8,
      bottomMlp: [32],
      topMlp: [16],
    });
    expect(first.state).toBe(TrainingState.TRAINING_STATE_QUEUED);
    // A watcher that goes away does not stop the job.
    const leaver = client.watchTraining({ id: first.id });
    await new Promise<void>((resolve) => leaver.once('data', () => resolve()));
    leaver.on('error', () => undefined);
    leaver.cancel();

    const seen = await watchAll(first.id);
    const last = seen[seen.length - 1] as trainer.Training;
    expect({ state: last.state, error: last.error }).toEqual({
      state: TrainingState.TRAINING_STATE_SUCCEEDED,
      error: '',
    });
    const running = seen.filter((t) => t.state === TrainingState.TRAINING_STATE_RUNNING);
    expect(
      running.some((t) => (t.progress?.part ?? 0) >= 1 && (t.progress?.rowsSeen ?? 0) > 0),
    ).toBe(true);
    expect(last.metrics?.valAuc).toBeGreaterThan(0);
    expect(last.metrics?.memoryBytes).toBeLessThan(last.metrics?.fullBytes ?? 0);

    const version = new ModelRegistryDir(registryRoot).readVersion(
      'ctr',
      last.modelDir.split('/').pop() as string,
    );
    expect(version.dir).toBe(last.modelDir);
    // The spec's layer sizes, dimension, optimizer and penalty are what was trained.
    expect(version.manifest).toMatchObject({
      architecture: { dim: 8, bottom: [32], top: [16] },
      training: { optimizer: 'adagrad', sparseL2: 1e-4 },
    });
    expect((version.manifest as unknown as { metrics: { testAuc: number } }).metrics.testAuc).toBe(
      last.metrics?.testAuc,
    );
    expect((await unary(client.getTraining, { id: first.id })).res.training).toEqual(last);
    expect((await unary(client.listTrainings, {})).res.trainings?.map((t) => t.id)).toEqual([
      first.id,
    ]);
  }, 60_000);

  it('fills an unset schedule with the data-sized defaults of embpress train', async () => {
    // Only what has no default, plus small layers (not schedule fields) to keep it fast.
    const job = await start({
      epochs: 0,
      batchSize: 0,
      learningRate: 0,
      outputName: 'defaults',
      dim: 4,
      bottomMlp: [8],
      topMlp: [8],
      amsgrad: true,
      lrSchedule: 'cosine',
    });
    const seen = await watchAll(job.id);
    const last = seen[seen.length - 1] as trainer.Training;
    expect(last.state).toBe(TrainingState.TRAINING_STATE_SUCCEEDED);
    // ~1,714 train rows: batch 128 (>= 200 steps/epoch is out of reach, the floor), 13 steps per
    // epoch, so up to 20 epochs (>= 2000 steps, capped), 1 part per epoch, patience 3, adam 1e-3
    // (docs/models.md#training-defaults); the old fixed defaults were 1 epoch at batch 1024.
    const chosen = {
      batchSize: 128,
      epochs: 20,
      partsPerEpoch: 1,
      earlyStopParts: 3,
      optimizer: 'adam',
      lr: 0.001,
      amsgrad: true,
      dropout: 0,
      lrSchedule: 'cosine',
      warmupSteps: 0,
    };
    const manifest = new ModelRegistryDir(registryRoot).readVersion(
      'defaults',
      last.modelDir.split('/').pop() as string,
    ).manifest;
    expect(manifest).toMatchObject({ training: { ...chosen, sparseOptimizer: 'adam' } });
    expect(manifest).toMatchObject({ training: { plannedSteps: 20 * 13 } });
    // The record's spec shows the values chosen for its zero fields.
    expect(last.spec).toMatchObject({
      preset: 'auto',
      accounting: 'bytes',
      batchSize: 128,
      epochs: 20,
      partsPerEpoch: 1,
      earlyStopParts: 3,
      optimizer: 'adam',
      learningRate: 0.001,
      amsgrad: true,
      dropout: 0,
      lrSchedule: 'cosine',
      warmupSteps: 0,
    });
    // The first record (QUEUED) still showed them as given: zero = to be chosen.
    expect(seen[0]?.spec).toMatchObject({ batchSize: 0, epochs: 0, learningRate: 0 });
  }, 60_000);

  it('cancels a running training (CANCELLED, nothing exported) and limits concurrent jobs', async () => {
    const job = await start({ outputName: 'cancelled', epochs: 50, earlyStopParts: 1000 });
    const busy = await unary(client.startTraining, { spec: specOf({ outputName: 'other' }) });
    expect(busy.err?.code).toBe(status.RESOURCE_EXHAUSTED);

    // Cancelled in part 2 or later: part 1 is done, so a checkpoint of the run exists on disk.
    const checkpoints = join(registryRoot, '.checkpoints', 'cancelled');
    const seen: trainer.Training[] = [];
    let asked = false;
    let checkpointed = false;
    const stream = client.watchTraining({ id: job.id });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const cancelled = new Promise<trainer.Training | undefined>((resolve) => {
      stream.on('data', (m: trainer.WatchTrainingResponse) => {
        seen.push(m.training as trainer.Training);
        if ((m.training?.progress?.part ?? 0) >= 2 && !asked) {
          asked = true;
          checkpointed = existsSync(checkpoints) && readdirSync(checkpoints).length > 0;
          void unary(client.cancelTraining, { id: job.id }).then(({ res }) =>
            resolve(res.training),
          );
        }
      });
    });
    expect((await cancelled)?.state).toBe(TrainingState.TRAINING_STATE_CANCELLED);
    await ended;
    expect(seen[seen.length - 1]?.state).toBe(TrainingState.TRAINING_STATE_CANCELLED);
    expect(seen.some((t) => t.state === TrainingState.TRAINING_STATE_RUNNING)).toBe(true);
    expect(new ModelRegistryDir(registryRoot).versions('cancelled')).toEqual([]);
    // The run's checkpoints existed and are removed with it.
    expect(checkpointed).toBe(true);
    expect(existsSync(checkpoints) ? readdirSync(checkpoints) : []).toEqual([]);
    // Cancelling an ended training answers its record.
    expect((await unary(client.cancelTraining, { id: job.id })).res.training?.state).toBe(
      TrainingState.TRAINING_STATE_CANCELLED,
    );
  }, 60_000);

  it('reports a training that fails with FAILED and the error', async () => {
    const broken = join(dir, 'broken.txt');
    writeFileSync(broken, '1\t2\tthree\n');
    const job = await start({ data: `criteo:${broken}`, outputName: 'broken' });
    const seen = await watchAll(job.id);
    const last = seen[seen.length - 1] as trainer.Training;
    expect(last.state).toBe(TrainingState.TRAINING_STATE_FAILED);
    expect(last.error).toContain('broken.txt');
    expect((await unary(client.getTraining, { id: 'nope' })).err?.code).toBe(status.NOT_FOUND);
  }, 60_000);
});
