// Composition root of the trainer service. Telemetry is started by the caller first.
import { trainer } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import type { TrainerConfig } from './config';
import { Trainings } from './domain/trainings';
import { trainerHandlers } from './handlers/handlers';

export async function startTrainer(config: TrainerConfig, logger: Logger): Promise<RunningService> {
  const host = new ServiceHost({ name: 'trainer', config: config.server, logger });
  host.addService<trainer.TrainerServiceServer>(
    trainer.TrainerServiceService,
    trainerHandlers(new Trainings()),
  );
  await host.start();
  return host.markServing();
}
