// TrainerService handlers: a training runs as a job in its own child process (TrainingJobs);
// these handlers validate, start, cancel, and read or stream the trainings' records.
import { trainer } from '@embpress/proto';
import { NotFoundError, requireText, type Handlers } from '@embpress/service-kit';
import type { Trainings } from '../trainings';
import type { TrainingJobs } from '../runner/training-jobs';
import { validateTrainingSpec } from './validate-spec';

const { TrainingState } = trainer;
const TERMINAL = new Set([
  TrainingState.TRAINING_STATE_SUCCEEDED,
  TrainingState.TRAINING_STATE_FAILED,
  TrainingState.TRAINING_STATE_CANCELLED,
]);

export function trainerHandlers(
  trainings: Trainings,
  jobs: TrainingJobs,
): Handlers<trainer.TrainerServiceServer> {
  const find = (id: string): trainer.Training => {
    requireText('id', id, 128);
    const training = trainings.get(id);
    if (training === undefined) throw new NotFoundError(`training "${id}" not found`);
    return training;
  };
  return {
    startTraining: async (request) => {
      const { spec, options } = validateTrainingSpec(request.spec);
      return { training: jobs.start(spec, options) };
    },
    getTraining: async (request) => ({ training: find(request.id) }),
    listTrainings: async () => ({ trainings: trainings.list() }),
    cancelTraining: async (request) => {
      const training = find(request.id);
      if (TERMINAL.has(training.state)) return { training };
      // Answers once the child is gone and the record says CANCELLED (or how it ended first).
      return { training: (await jobs.cancel(request.id)) ?? training };
    },
    // The job does not depend on its watchers: a client that goes away only ends its stream.
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
