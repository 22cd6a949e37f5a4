// The only reader of the retriever's environment. grpc-free: parsed before telemetry starts.
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

export const RETRIEVER_ENV_PREFIX = 'EMBPRESS_RETRIEVER';
export const RETRIEVER_DEFAULT_PORT = 50054;

export interface RetrieverConfig {
  server: ServerConfig;
  /** The embedding store (EMBPRESS_RETRIEVER_STORE_ADDRESS, _TLS_CA, ...). */
  store: ClientConfig;
  maxK: number;
  maxQueryChars: number;
}

const schema = z.object({
  MAX_K: positiveInt(1_000),
  MAX_QUERY_CHARS: positiveInt(8_192),
});

export function loadRetrieverConfig(env: Env): RetrieverConfig {
  const [server, store, v] = collectConfig(
    () => parseServerConfig(RETRIEVER_ENV_PREFIX, RETRIEVER_DEFAULT_PORT, env),
    () => parseClientConfig(`${RETRIEVER_ENV_PREFIX}_STORE`, '127.0.0.1:50051', env),
    () => parseEnv(schema, env, RETRIEVER_ENV_PREFIX),
  );
  return { server, store, maxK: v.MAX_K, maxQueryChars: v.MAX_QUERY_CHARS };
}
