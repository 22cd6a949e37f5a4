// How the CLI finds each service: a grpc-free config loader, and a lazily imported starter
// (importing a service loads @grpc/grpc-js, which must happen after telemetry starts).
import { lazyRequire, type Env } from '@embpress/service-kit/config';
import type { Logger } from '@embpress/service-kit/logger';

/** What a started service hands back (structurally ServiceHost's RunningService). */
export interface Started {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
  notServing(): void;
}

export interface ServiceEntry {
  /** Throws ConfigError listing every problem. */
  loadConfig(env: Env): unknown;
  start(config: unknown, logger: Logger): Promise<Started>;
  /** Processes sharing the service's port (serve-one's cluster): 1 unless the config says more. */
  workers(config: unknown): number;
}

function entry<C>(
  load: () => (env: Env) => C,
  start: () => (config: C, logger: Logger) => Promise<Started>,
  workers: (config: C) => number = () => 1,
): ServiceEntry {
  return {
    loadConfig: (env) => load()(env),
    start: (config, logger) => start()(config as C, logger),
    workers: (config) => workers(config as C),
  };
}

export const SERVICES = {
  store: entry(
    () =>
      lazyRequire<typeof import('@embpress/embedding-store/config')>(
        '@embpress/embedding-store/config',
      ).loadStoreConfig,
    () =>
      lazyRequire<typeof import('@embpress/embedding-store')>('@embpress/embedding-store')
        .startStore,
  ),
  trainer: entry(
    () =>
      lazyRequire<typeof import('@embpress/trainer/config')>('@embpress/trainer/config')
        .loadTrainerConfig,
    () => lazyRequire<typeof import('@embpress/trainer')>('@embpress/trainer').startTrainer,
  ),
  ranker: entry(
    () =>
      lazyRequire<typeof import('@embpress/ranker/config')>('@embpress/ranker/config')
        .loadRankerConfig,
    () => lazyRequire<typeof import('@embpress/ranker')>('@embpress/ranker').startRanker,
    (config) => config.workers,
  ),
  retriever: entry(
    () =>
      lazyRequire<typeof import('@embpress/retriever/config')>('@embpress/retriever/config')
        .loadRetrieverConfig,
    () => lazyRequire<typeof import('@embpress/retriever')>('@embpress/retriever').startRetriever,
  ),
} as const;
