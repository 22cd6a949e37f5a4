// The only reader of the retriever's environment. grpc-free: parsed before telemetry starts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseShardMap, type ShardMap } from '@embpress/store-client/shard-map';
import {
  collectConfig,
  optionalPath,
  parseClientConfig,
  parseEnv,
  parseServerConfig,
  positiveInt,
  type ClientConfig,
  type Env,
  type ServerConfig,
} from '@embpress/service-kit/config';

export const RETRIEVER_ENV_PREFIX = 'EMBPRESS_RETRIEVER';
export const RETRIEVER_DEFAULT_PORT = 50054;

export interface RetrieverConfig {
  server: ServerConfig;
  /** The embedding store (EMBPRESS_RETRIEVER_STORE_ADDRESS, _TLS_CA, _SHARD_MAP ...). */
  store: ClientConfig;
  /** Parsed EMBPRESS_RETRIEVER_STORE_SHARD_MAP, when the store is sharded. */
  shardMap?: ShardMap;
  /** Registry root holding the corpora's passages and encoders (the store's root, or a copy). */
  registryRoot: string;
  maxK: number;
  maxQueryChars: number;
  /** nprobe sent with every Search (0: the table's own default). */
  defaultNprobe: number;
  /** How long the store's active version of a corpus is reused before asking again. */
  versionTtlMs: number;
  /** Corpus versions (passages + encoder) kept in memory. */
  corpusCacheSize: number;
}

const nonNegativeInt = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) {
        ctx.addIssue({ code: 'custom', message: `expected an integer >= 0, got "${raw}"` });
        return z.NEVER;
      }
      return Number(raw);
    });

const schema = z.object({
  MAX_K: positiveInt(1_000),
  MAX_QUERY_CHARS: positiveInt(8_192),
  REGISTRY_ROOT: optionalPath(),
  DEFAULT_NPROBE: nonNegativeInt(0),
  VERSION_TTL_MS: positiveInt(1_000),
  CORPUS_CACHE_SIZE: positiveInt(4),
});

export function loadRetrieverConfig(env: Env): RetrieverConfig {
  const [server, store, v] = collectConfig(
    () => parseServerConfig(RETRIEVER_ENV_PREFIX, RETRIEVER_DEFAULT_PORT, env),
    () => parseClientConfig(`${RETRIEVER_ENV_PREFIX}_STORE`, '127.0.0.1:50051', env),
    () => parseEnv(schema, env, RETRIEVER_ENV_PREFIX),
  );
  const file = store.shardMapFile;
  const shardMap =
    file === undefined
      ? undefined
      : parseShardMap(
          readFileSync(file, 'utf8'),
          `${RETRIEVER_ENV_PREFIX}_STORE_SHARD_MAP ${file}`,
        );
  return {
    server,
    store,
    shardMap,
    registryRoot: v.REGISTRY_ROOT ?? 'var/models',
    maxK: v.MAX_K,
    maxQueryChars: v.MAX_QUERY_CHARS,
    defaultNprobe: v.DEFAULT_NPROBE,
    versionTtlMs: v.VERSION_TTL_MS,
    corpusCacheSize: v.CORPUS_CACHE_SIZE,
  };
}
