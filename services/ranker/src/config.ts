// The only reader of the ranker's environment. grpc-free: parsed before telemetry starts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseShardMap, type ShardMap } from '@embpress/store-client/shard-map';
import {
  availableCores,
  collectConfig,
  flag,
  nonNegativeInt,
  parseClientConfig,
  parseEnv,
  parseServerConfig,
  optionalPath,
  positiveInt,
  type ClientConfig,
  type Env,
  type ServerConfig,
} from '@embpress/service-kit/config';

export const RANKER_ENV_PREFIX = 'EMBPRESS_RANKER';
export const RANKER_DEFAULT_PORT = 50053;

export interface RankerConfig {
  server: ServerConfig;
  /** The embedding store (EMBPRESS_RANKER_STORE_ADDRESS, _TLS_CA, _SHARD_MAP ...). */
  store: ClientConfig;
  /** Parsed EMBPRESS_RANKER_STORE_SHARD_MAP, when the store is sharded. */
  shardMap?: ShardMap;
  maxCandidates: number;
  maxFeaturesPerCandidate: number;
  /** Model directories (`<root>/<model>/<version>/`): manifest, vocabulary and dense weights. */
  registryRoot: string;
  /** On a failed shard: zero embeddings and `degraded: true` instead of UNAVAILABLE. */
  degradedOnShardFailure: boolean;
  /** tfjs backend of the dense forward. */
  backend: RankerBackend;
  /** Model versions kept loaded (dense model + feature mapping), least recently used evicted. */
  modelCacheSize: number;
  /** How long the store's active version of a model is reused before DescribeTables again. */
  versionTtlMs: number;
  /** Bytes of the hot-row cache of decoded fp32 rows (domain/row-cache.ts); 0 turns it off. */
  rowCacheBytes: number;
  /**
   * Ranker processes sharing the port (Node cluster; each with its own model cache, row cache and
   * store connections). Default: the cores this process may use (its container's CPU limit).
   */
  workers: number;
}

export const RANKER_BACKENDS = ['wasm', 'cpu', 'tensorflow', 'auto'] as const;
export type RankerBackend = (typeof RANKER_BACKENDS)[number];

/**
 * 64 MiB: about 750,000 rows of dim 16 (89 B each with their bookkeeping), a few percent of the
 * ranker pod's 2 GiB memory request (deploy/k8s/base/ranker.yaml), and enough for the Zipf head
 * of tables far larger than that (docs/benchmarks.md, "Ranker hot-row cache").
 */
export const RANKER_DEFAULT_ROW_CACHE_BYTES = 64 * 1024 * 1024;
/** 4 GiB: the largest arena one Float32Array holds everywhere Node runs. */
export const RANKER_MAX_ROW_CACHE_BYTES = 2 ** 32;

const schema = z.object({
  MAX_CANDIDATES: positiveInt(10_000),
  MAX_FEATURES_PER_CANDIDATE: positiveInt(1_024),
  REGISTRY_ROOT: optionalPath(),
  DEGRADED_ON_SHARD_FAILURE: flag(false),
  BACKEND: z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw.trim() === '' ? 'wasm' : raw.trim()))
    .pipe(z.enum(RANKER_BACKENDS)),
  MODEL_CACHE_SIZE: positiveInt(4),
  VERSION_TTL_MS: positiveInt(1_000),
  ROW_CACHE_BYTES: nonNegativeInt(
    RANKER_DEFAULT_ROW_CACHE_BYTES,
    `a number of bytes from 0 (off) to ${RANKER_MAX_ROW_CACHE_BYTES}`,
    RANKER_MAX_ROW_CACHE_BYTES,
  ),
  // Unset (0): the cores available, read only then (availableCores reads cgroup files).
  WORKERS: positiveInt(0, 'a positive number of processes'),
});

export function loadRankerConfig(env: Env): RankerConfig {
  const [server, store, v] = collectConfig(
    () => parseServerConfig(RANKER_ENV_PREFIX, RANKER_DEFAULT_PORT, env),
    () => parseClientConfig(`${RANKER_ENV_PREFIX}_STORE`, '127.0.0.1:50051', env),
    () => parseEnv(schema, env, RANKER_ENV_PREFIX),
  );
  // Read here so that a bad shard map is a configuration error at start, like any other.
  const file = store.shardMapFile;
  const shardMap =
    file === undefined
      ? undefined
      : parseShardMap(readFileSync(file, 'utf8'), `${RANKER_ENV_PREFIX}_STORE_SHARD_MAP ${file}`);
  return {
    server,
    store,
    shardMap,
    maxCandidates: v.MAX_CANDIDATES,
    maxFeaturesPerCandidate: v.MAX_FEATURES_PER_CANDIDATE,
    // The store's default root: `serve all` finds the models the store serves.
    registryRoot: v.REGISTRY_ROOT ?? 'var/models',
    degradedOnShardFailure: v.DEGRADED_ON_SHARD_FAILURE,
    backend: v.BACKEND,
    modelCacheSize: v.MODEL_CACHE_SIZE,
    versionTtlMs: v.VERSION_TTL_MS,
    rowCacheBytes: v.ROW_CACHE_BYTES,
    workers: v.WORKERS === 0 ? availableCores() : v.WORKERS,
  };
}
