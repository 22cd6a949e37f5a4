// The only reader of the trainer's environment. grpc-free: parsed before telemetry starts.
import { z } from 'zod';
import {
  collectConfig,
  optionalPath,
  parseEnv,
  parseServerConfig,
  positiveInt,
  type Env,
  type ServerConfig,
} from '@embpress/service-kit/config';

export const TRAINER_ENV_PREFIX = 'EMBPRESS_TRAINER';
export const TRAINER_DEFAULT_PORT = 50052;

export interface TrainerConfig {
  server: ServerConfig;
  /** Where trained model versions are exported: <root>/<model>/<version>/ (the store's registry). */
  registryRoot: string;
  /**
   * Trainings running at once; StartTraining answers RESOURCE_EXHAUSTED beyond. Default 1: one
   * training already keeps the cores busy.
   */
  maxConcurrentJobs: number;
}

const schema = z.object({ REGISTRY_ROOT: optionalPath(), MAX_CONCURRENT_JOBS: positiveInt(1) });

export function loadTrainerConfig(env: Env): TrainerConfig {
  const [server, v] = collectConfig(
    () => parseServerConfig(TRAINER_ENV_PREFIX, TRAINER_DEFAULT_PORT, env),
    () => parseEnv(schema, env, TRAINER_ENV_PREFIX),
  );
  return {
    server,
    registryRoot: v.REGISTRY_ROOT ?? 'var/models',
    maxConcurrentJobs: v.MAX_CONCURRENT_JOBS,
  };
}
