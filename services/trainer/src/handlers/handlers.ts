// TrainerService handlers. The record of trainings is real; running one is the trainer issue's
// work (#4), so StartTraining validates its spec and then answers UNIMPLEMENTED.
import { trainer } from '@embpress/proto';
import {
  NotFoundError,
  requireText,
  UnimplementedError,
  type Handlers,
} from '@embpress/service-kit';
import type { Trainings } from '../domain/trainings';
import { validateTrainingSpec } from './validate-spec';

const { TrainingState } = trainer;
const TERMINAL = new Set([
  TrainingState.TRAINING_STATE_SUCCEEDED,
  TrainingState.TRAINING_STATE_FAILED,
  TrainingState.TRAINING_STATE_CANCELLED,
]);

export function trainerHandlers(trainings: Trainings): Handlers<trainer.TrainerServiceServer> {
  const find = (id: string): trainer.Training => {
    requireText('id', id, 128);
    const training = trainings.get(id);
    if (training === undefined) throw new NotFoundError(`training "${id}" not found`);
    return training;
  };
  return {
    startTraining: async (request) => {
      validateTrainingSpec(request.spec);
      throw new UnimplementedError(
        'StartTraining: running trainings (data readers, models, training loop, export) is not built yet (trainer issue #4)',
      );
    },
    getTraining: async (request) => ({ training: find(request.id) }),
    listTrainings: async () => ({ trainings: trainings.list() }),
    cancelTraining: async (request) => {
      const training = find(request.id);
      if (TERMINAL.has(training.state)) return { training };
      throw new UnimplementedError(
        'CancelTraining: cancelling a running training arrives with the trainer issue (#4)',
      );
    },
    watchTraining: async (request, ctx, send) => {
      const first = find(request.id);
      send({ training: first });
      if (TERMINAL.has(first.state)) return;
      await new Promise<void>((resolve) => {
        const stop = trainings.watch(request.id, (training) => {
          send({ training });
          if (TERMINAL.has(training.state)) done();
        });
        const done = () => {
          stop();
          ctx.signal.removeEventListener('abort', done);
          resolve();
        };
        ctx.signal.addEventListener('abort', done);
      });
    },
  };
}
