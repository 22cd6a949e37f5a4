// The only reader of the store's environment. grpc-free: parsed before telemetry starts.
import { z } from 'zod';
import {
  collectConfig,
  flag,
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
  /**
   * Largest request message in bytes, refused from its length prefix before it is buffered.
   * Default: what the id limit needs at worst (5 bytes per id plus 4,096 table names), at least
   * 4 MiB (a Search of 1,024 queries of dim 1,024).
   */
  maxReceiveBytes: number;
  /** LookupStream: messages of one stream in flight before new ones get RESOURCE_EXHAUSTED. */
  streamMaxInFlight: number;
  /** Largest k of a Search, and most query vectors in one Search. */
  maxSearchK: number;
  maxSearchQueries: number;
  /** Search with exact_rerank re-scores the top k × this many candidates with fp32 rows. */
  searchRerankFactor: number;
  /** HTTP/2 receive window per connection and stream (ServiceHost.flowControlWindowBytes). */
  flowControlWindowBytes: number;
  /** Watch the registry root for new versions and changed active pointers (registry-watcher). */
  watch: boolean;
  /** Polling interval of the watch (also its fallback when fs.watch is unavailable). */
  watchIntervalMs: number;
}

const schema = z.object({
  REGISTRY_ROOT: optionalPath(),
  ADMIN_TOKEN: optionalPath(),
  // 262,144 ids: a 16-dim fp32 answer of 16 MiB, a 64-dim one at grpc's 64 MiB send limit.
  MAX_IDS_PER_REQUEST: positiveInt(262_144),
  MAX_RECEIVE_BYTES: positiveInt(0, 'a positive number of bytes'), // unset (0): derived
  STREAM_MAX_IN_FLIGHT: positiveInt(256),
  MAX_SEARCH_K: positiveInt(1_000),
  MAX_SEARCH_QUERIES: positiveInt(1_024),
  SEARCH_RERANK_FACTOR: positiveInt(4),
  // 1 MiB: 16 concurrent requests of 4,096 ids (~12 KiB each) never wait for a WINDOW_UPDATE,
  // while a hostile client still cannot make the store buffer more than 1 MiB per stream unread.
  FLOW_CONTROL_WINDOW_BYTES: positiveInt(1024 * 1024),
  WATCH: flag(false),
  WATCH_INTERVAL_MS: positiveInt(2_000),
});

/** The largest well-formed BatchLookup of `maxIds` ids: see StoreConfig.maxReceiveBytes. */
export function receiveBytesFor(maxIds: number): number {
  const tableEntry = 1 + 2 + (1 + 1 + 128) + (1 + 3); // tag, length, name (≤ 128), ids header
  const needed = 64 + maxIds * 5 + 4096 * tableEntry;
  return Math.max(4 * 1024 * 1024, needed);
}

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
    maxReceiveBytes:
      v.MAX_RECEIVE_BYTES === 0 ? receiveBytesFor(v.MAX_IDS_PER_REQUEST) : v.MAX_RECEIVE_BYTES,
    streamMaxInFlight: v.STREAM_MAX_IN_FLIGHT,
    maxSearchK: v.MAX_SEARCH_K,
    maxSearchQueries: v.MAX_SEARCH_QUERIES,
    searchRerankFactor: v.SEARCH_RERANK_FACTOR,
    flowControlWindowBytes: v.FLOW_CONTROL_WINDOW_BYTES,
    watch: v.WATCH,
    watchIntervalMs: v.WATCH_INTERVAL_MS,
  };
}
