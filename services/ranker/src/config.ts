// The only reader of the ranker's environment. grpc-free: parsed before telemetry starts.
import { z } from 'zod';
import {
  collectConfig,
  parseClientConfig,
  parseEnv,
  parseServerConfig,
  positiveInt,
  type ClientConfig,
  type Env,
  type ServerConfig,
} from '@embpress/service-kit/config';

export const RANKER_ENV_PREFIX = 'EMBPRESS_RANKER';
export const RANKER_DEFAULT_PORT = 50053;

export interface RankerConfig {
  server: ServerConfig;
  /** The embedding store (EMBPRESS_RANKER_STORE_ADDRESS, _TLS_CA, ...). */
  store: ClientConfig;
  maxCandidates: number;
  maxFeaturesPerCandidate: number;
}

const schema = z.object({
  MAX_CANDIDATES: positiveInt(10_000),
  MAX_FEATURES_PER_CANDIDATE: positiveInt(1_024),
});

export function loadRankerConfig(env: Env): RankerConfig {
  const [server, store, v] = collectConfig(
    () => parseServerConfig(RANKER_ENV_PREFIX, RANKER_DEFAULT_PORT, env),
    () => parseClientConfig(`${RANKER_ENV_PREFIX}_STORE`, '127.0.0.1:50051', env),
    () => parseEnv(schema, env, RANKER_ENV_PREFIX),
  );
  return {
    server,
    store,
    maxCandidates: v.MAX_CANDIDATES,
    maxFeaturesPerCandidate: v.MAX_FEATURES_PER_CANDIDATE,
  };
}
