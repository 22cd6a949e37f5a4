// The only reader of the store's environment. grpc-free: parsed before telemetry starts.
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

export const STORE_ENV_PREFIX = 'EMBPRESS_STORE';
export const STORE_DEFAULT_PORT = 50051;

export interface StoreConfig {
  server: ServerConfig;
  /** Directory of model versions: <root>/<model>/<version>/. */
  registryRoot: string;
  /** When set, LoadVersion/ActivateVersion need `authorization: Bearer <token>`. */
  adminToken?: string;
  /** Most ids in one Lookup/BatchLookup request (over all its tables). */
  maxIdsPerRequest: number;
  /** Largest k of a Search, and most query vectors in one Search. */
  maxSearchK: number;
  maxSearchQueries: number;
  /** Search with exact_rerank re-scores the top k × this many candidates with fp32 rows. */
  searchRerankFactor: number;
}

const schema = z.object({
  REGISTRY_ROOT: optionalPath(),
  ADMIN_TOKEN: optionalPath(),
  MAX_IDS_PER_REQUEST: positiveInt(1_000_000),
  MAX_SEARCH_K: positiveInt(1_000),
  MAX_SEARCH_QUERIES: positiveInt(1_024),
  SEARCH_RERANK_FACTOR: positiveInt(4),
});

export function loadStoreConfig(env: Env): StoreConfig {
  const [server, v] = collectConfig(
    () => parseServerConfig(STORE_ENV_PREFIX, STORE_DEFAULT_PORT, env),
    () => parseEnv(schema, env, STORE_ENV_PREFIX),
  );
  return {
    server,
    registryRoot: v.REGISTRY_ROOT ?? 'var/models',
    adminToken: v.ADMIN_TOKEN,
    maxIdsPerRequest: v.MAX_IDS_PER_REQUEST,
    maxSearchK: v.MAX_SEARCH_K,
    maxSearchQueries: v.MAX_SEARCH_QUERIES,
    searchRerankFactor: v.SEARCH_RERANK_FACTOR,
  };
}
