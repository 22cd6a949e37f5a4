// The settings every server and every client of another service share, parsed from
// `${PREFIX}_*` variables. grpc-free on purpose (see config.ts).
import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import {
  address,
  host,
  nonNegativeInt,
  optionalPath,
  parseEnv,
  port,
  positiveInt,
  type Env,
} from './env';

export interface ServerTls {
  certFile?: string;
  keyFile?: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCaFile?: string;
}

export interface ServerConfig {
  host: string;
  port: number;
  tls: ServerTls;
  /** How long shutdown waits for in-flight calls before cancelling them. */
  shutdownGraceMs: number;
  /** Calls handled at once before new ones get RESOURCE_EXHAUSTED (load shedding). */
  maxInFlight: number;
  /**
   * Bytes the calls in flight may hold together (their requests, and what handlers reserve for
   * responses) before new ones get RESOURCE_EXHAUSTED. Default 128 MiB.
   */
  maxInFlightBytes?: number;
}

export interface ClientTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverNameOverride?: string;
}

export interface ClientConfig {
  /** `host:port`, or `dns:///name:port` to balance over every address of a headless service. */
  address: string;
  tls: ClientTls;
  /** Deadline of a call when the caller has none to propagate. */
  timeoutMs: number;
  /** JSON shard map of the store (table-wise / row-range placement over replicas), if sharded. */
  shardMapFile?: string;
  /** BatchLookups over this many LookupStream streams per store address (0: unary calls). */
  streams?: number;
}

function readable(path: string | undefined): boolean {
  if (path === undefined) return true;
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

type Ctx = z.RefinementCtx;
function requireReadable(ctx: Ctx, key: string, path: string | undefined): void {
  if (!readable(path))
    ctx.addIssue({ code: 'custom', path: [key], message: `cannot read file "${path}"` });
}
function requirePair(ctx: Ctx, a: [string, unknown], b: [string, unknown]): void {
  if ((a[1] === undefined) !== (b[1] === undefined)) {
    const [missing, present] = a[1] === undefined ? [a, b] : [b, a];
    ctx.addIssue({
      code: 'custom',
      path: [missing[0]],
      message: `required when ${present[0]} is set`,
    });
  }
}

const serverSchema = (defaultPort: number) =>
  z
    .object({
      HOST: host('127.0.0.1'),
      PORT: port(defaultPort),
      TLS_CERT: optionalPath(),
      TLS_KEY: optionalPath(),
      TLS_CLIENT_CA: optionalPath(),
      SHUTDOWN_GRACE_MS: positiveInt(10_000, 'a positive number of milliseconds'),
      MAX_IN_FLIGHT: positiveInt(1024, 'a positive integer'),
      MAX_IN_FLIGHT_BYTES: positiveInt(128 * 1024 * 1024, 'a positive number of bytes'),
    })
    .superRefine((v, ctx) => {
      requirePair(ctx, ['TLS_CERT', v.TLS_CERT], ['TLS_KEY', v.TLS_KEY]);
      if (v.TLS_CLIENT_CA !== undefined && v.TLS_CERT === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['TLS_CERT'],
          message: 'required when TLS_CLIENT_CA is set (mutual TLS needs TLS)',
        });
      }
      requireReadable(ctx, 'TLS_CERT', v.TLS_CERT);
      requireReadable(ctx, 'TLS_KEY', v.TLS_KEY);
      requireReadable(ctx, 'TLS_CLIENT_CA', v.TLS_CLIENT_CA);
    });

/** Server settings from `${prefix}_HOST`, `_PORT`, `_TLS_CERT`, `_TLS_KEY`, `_TLS_CLIENT_CA`, ... */
export function parseServerConfig(prefix: string, defaultPort: number, env: Env): ServerConfig {
  const v = parseEnv(serverSchema(defaultPort), env, prefix);
  return {
    host: v.HOST,
    port: v.PORT,
    tls: { certFile: v.TLS_CERT, keyFile: v.TLS_KEY, clientCaFile: v.TLS_CLIENT_CA },
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    maxInFlight: v.MAX_IN_FLIGHT,
    maxInFlightBytes: v.MAX_IN_FLIGHT_BYTES,
  };
}

const clientSchema = (defaultAddress: string) =>
  z
    .object({
      ADDRESS: address(defaultAddress),
      TLS_CA: optionalPath(),
      TLS_CERT: optionalPath(),
      TLS_KEY: optionalPath(),
      TLS_SERVER_NAME: optionalPath(),
      TIMEOUT_MS: positiveInt(5_000, 'a positive number of milliseconds'),
      SHARD_MAP: optionalPath(),
      STREAMS: nonNegativeInt(2, 'a number of streams (0: unary calls)'),
    })
    .superRefine((v, ctx) => {
      requirePair(ctx, ['TLS_CERT', v.TLS_CERT], ['TLS_KEY', v.TLS_KEY]);
      if (v.TLS_CERT !== undefined && v.TLS_CA === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['TLS_CA'],
          message: 'required when TLS_CERT is set (a client certificate needs TLS)',
        });
      }
      requireReadable(ctx, 'TLS_CA', v.TLS_CA);
      requireReadable(ctx, 'TLS_CERT', v.TLS_CERT);
      requireReadable(ctx, 'TLS_KEY', v.TLS_KEY);
      requireReadable(ctx, 'SHARD_MAP', v.SHARD_MAP);
    });

/** Client settings from `${prefix}_ADDRESS`, `_TLS_CA`, `_TLS_CERT`, `_TLS_KEY`, `_TIMEOUT_MS`. */
export function parseClientConfig(prefix: string, defaultAddress: string, env: Env): ClientConfig {
  const v = parseEnv(clientSchema(defaultAddress), env, prefix);
  return {
    address: v.ADDRESS,
    tls: {
      caFile: v.TLS_CA,
      certFile: v.TLS_CERT,
      keyFile: v.TLS_KEY,
      serverNameOverride: v.TLS_SERVER_NAME,
    },
    timeoutMs: v.TIMEOUT_MS,
    shardMapFile: v.SHARD_MAP,
    streams: v.STREAMS,
  };
}
