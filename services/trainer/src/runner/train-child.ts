// Entry of the child process that runs one training for TrainerService: training is CPU-bound
// for minutes to hours, so it runs here and never on the service's event loop. It waits for one
// `start` message, trains, reports progress and the result over IPC, and exits.
import { train, TrainError } from '@embpress/training';
import type { ChildMessage, StartMessage } from './protocol';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function run(message: StartMessage): Promise<void> {
  try {
    const result = await train({
      ...message.options,
      onProgress: (event) => void send({ type: 'progress', event }),
    });
    await send({
      type: 'result',
      summary: {
        modelDir: result.modelDir,
        spec: result.spec,
        memoryBytes: result.memoryBytes,
        fullBytes: result.fullBytes,
        ...result.metrics,
        samplesTrained: result.samplesTrained,
        trainSeconds: result.trainSeconds,
        schedule: {
          preset: result.schedule.preset,
          epochs: result.schedule.epochs,
          batchSize: result.schedule.batchSize,
          lr: result.schedule.lr,
          optimizer: result.schedule.optimizer,
          partsPerEpoch: result.schedule.partsPerEpoch,
          earlyStopParts: result.schedule.earlyStopParts,
          amsgrad: result.schedule.amsgrad,
          dropout: result.schedule.dropout,
          lrSchedule: result.schedule.lrSchedule,
          warmupSteps: result.schedule.warmupSteps,
        },
      },
    });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    await send({
      type: 'error',
      message: e.message,
      problem: err instanceof TrainError ? err.problem : 'internal',
    });
  }
  process.off('disconnect', orphaned);
  process.exit(0);
}

if (process.send === undefined) {
  process.stderr.write('train-child: run by TrainerService through fork (no IPC channel)\n');
  process.exit(2);
}
// The service went away: nothing would receive the result.
const orphaned = () => process.exit(1);
process.once('disconnect', orphaned);
process.once('message', (message: StartMessage) => void run(message));
