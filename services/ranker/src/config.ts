// The only reader of the ranker's environment. grpc-free: parsed before telemetry starts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseShardMap, type ShardMap } from '@embpress/store-client/shard-map';
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
  /** The embedding store (EMBPRESS_RANKER_STORE_ADDRESS, _TLS_CA, _SHARD_MAP ...). */
  store: ClientConfig;
  /** Parsed EMBPRESS_RANKER_STORE_SHARD_MAP, when the store is sharded. */
  shardMap?: ShardMap;
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
  };
}
