// Composition root of the trainer service. Telemetry is started by the caller first.
import { resolve } from 'node:path';
import { trainer } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import type { TrainerConfig } from './config';
import { Trainings } from './trainings';
import { trainerHandlers } from './handlers/handlers';
import { TrainingJobs } from './runner/training-jobs';

export async function startTrainer(config: TrainerConfig, logger: Logger): Promise<RunningService> {
  const host = new ServiceHost({ name: 'trainer', config: config.server, logger });
  const trainings = new Trainings();
  const jobs = new TrainingJobs(trainings, {
    registryRoot: resolve(config.registryRoot),
    maxConcurrentJobs: config.maxConcurrentJobs,
    logger,
  });
  host.addService<trainer.TrainerServiceServer>(
    trainer.TrainerServiceService,
    trainerHandlers(trainings, jobs),
  );
  await host.start();
  const running = host.markServing();
  return {
    ...running,
    // Running trainings end CANCELLED first, which also ends their WatchTraining streams.
    stop: async () => {
      await jobs.stopAll();
      await running.stop();
    },
  };
}
