import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { trainer } from '@embpress/proto';
import { ServiceHost } from '@embpress/service-kit';
import { Trainings } from '../domain/trainings';
import { trainerHandlers } from './handlers';

const { TrainingState } = trainer;

describe('TrainerService', () => {
  const trainings = new Trainings();
  let host: ServiceHost;
  let client: trainer.TrainerServiceClient;

  beforeAll(async () => {
    host = new ServiceHost({
      name: 'trainer',
      logger: pino({ level: 'silent' }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 8 },
    });
    host.addService<trainer.TrainerServiceServer>(
      trainer.TrainerServiceService,
      trainerHandlers(trainings),
    );
    await host.start();
    host.markServing();
    client = new trainer.TrainerServiceClient(host.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await host.shutdown();
  });

  const unary = <Req, Res>(
    method: (
      r: Req,
      m: Metadata,
      o: object,
      cb: (e: ServiceError | null, r: Res) => void,
    ) => unknown,
    request: Req,
  ) =>
    new Promise<{ err: ServiceError | null; res: Res }>((resolve) =>
      method.call(client, request, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
        resolve({ err, res }),
      ),
    );

  const spec = {
    data: 'criteo:/data/train.txt',
    testData: '',
    model: '',
    method: 'qr(collisions=4)',
    budget: 0.5,
    epochs: 0,
    batchSize: 0,
    learningRate: 0,
    seed: 1,
    outputName: 'ctr',
    backend: '',
  };

  it('StartTraining validates the spec, then says training is not built yet', async () => {
    const bad = async (patch: Partial<typeof spec>) =>
      (await unary(client.startTraining, { spec: { ...spec, ...patch } })).err?.details;
    expect(await bad({ data: 'criteo' })).toBe(
      'spec.data: must be KIND:PATH with KIND one of criteo, avazu, csv, synth, got "criteo"',
    );
    expect(await bad({ data: 'parquet:/x' })).toBe(
      'spec.data: unknown data kind "parquet" (one of criteo, avazu, csv, synth)',
    );
    expect(await bad({ model: 'bert' })).toBe(
      'spec.model: must be one of dlrm, wdl, dcn, deepfm, got "bert"',
    );
    expect(await bad({ budget: 1.5 })).toBe('spec.budget: must be in (0, 1], got 1.5');
    expect(await bad({ method: ' ' })).toMatch(/^spec\.method: is required/);
    expect(await bad({ outputName: '' })).toBe('spec.output_name: is required');
    expect(await bad({ backend: 'gpu' })).toBe(
      'spec.backend: must be one of auto, wasm, cpu, tensorflow, got "gpu"',
    );
    const { err } = await unary(client.startTraining, { spec });
    expect(err?.code).toBe(status.UNIMPLEMENTED);
    expect(err?.details).toMatch(/trainer issue #4/);
  });

  it('knows the trainings it has and streams their progress until they end', async () => {
    expect((await unary(client.listTrainings, {})).res.trainings).toEqual([]);
    expect((await unary(client.getTraining, { id: 'nope' })).err?.code).toBe(status.NOT_FOUND);

    const base = trainer.Training.fromPartial({
      id: 't1',
      spec,
      state: TrainingState.TRAINING_STATE_RUNNING,
      createdAtUnixMs: 1,
    });
    trainings.put(base);
    expect((await unary(client.getTraining, { id: 't1' })).res.training?.state).toBe(
      TrainingState.TRAINING_STATE_RUNNING,
    );

    const seen: trainer.TrainingState[] = [];
    const stream = client.watchTraining({ id: 't1' });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: trainer.WatchTrainingResponse) => {
        seen.push(m.training?.state ?? TrainingState.UNRECOGNIZED);
        if (seen.length === 1) {
          trainings.put({ ...base, progress: trainer.TrainingProgress.fromPartial({ epoch: 1 }) });
          trainings.put({ ...base, state: TrainingState.TRAINING_STATE_SUCCEEDED });
        }
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await ended;
    expect(seen).toEqual([
      TrainingState.TRAINING_STATE_RUNNING,
      TrainingState.TRAINING_STATE_RUNNING,
      TrainingState.TRAINING_STATE_SUCCEEDED,
    ]);
    expect((await unary(client.cancelTraining, { id: 't1' })).res.training?.state).toBe(
      TrainingState.TRAINING_STATE_SUCCEEDED,
    );
  });
});
