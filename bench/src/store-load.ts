// The load generator of `embpress bench store`, run as its own process (forked by store.ts with
// an IPC channel) so that the client never shares a process with the server it measures.
//
// Each target is driven by `concurrency` loops, each with one call in flight, spread over
// `connections` clients (StoreClient / ioredis instances, one connection each). The targets take
// turns in `rounds` rounds of seconds/rounds each (after one warm-up per target), so that a
// change in the machine's background load during the run hits every target alike. A call is
// timed from the request to its rows decoded into fp32 on this side: Lookup + decodeRows for the
// store, MGET + the float32 blobs copied out for Redis, so both sides are measured end to end.
import { Rng } from '@embpress/compression';
import { percentile } from '@embpress/loadtest';
import { common } from '@embpress/proto';
import { decodeRows, StoreClient } from '@embpress/store-client';
import Redis from 'ioredis';

export type StoreTarget = {
  kind: 'store';
  model: string;
  table: string;
  encoding: 'codes' | 'float32';
};
export type Target = StoreTarget | { kind: 'redis' };

export interface LoadConfig {
  storeAddress: string;
  redisPort: number;
  redisPrefix: string;
  rows: number;
  dim: number;
  batch: number;
  concurrency: number;
  /** Connections per side: loop k uses client k mod connections. */
  connections: number;
  /** LookupStream streams per store client (0: one unary BatchLookup per call; default 2). */
  streams?: number;
  /** Seconds measured per target, in total over the rounds. */
  seconds: number;
  /** Seconds of warm-up per target, before its first measured round. */
  warmupSeconds: number;
  rounds: number;
  seed: number;
  /** Tables read back and compared with Redis before the timed phases (none: no check). */
  check?: { full: StoreTarget; int8: StoreTarget };
  phases: Array<{ name: string; target: Target }>;
}

export interface PhaseResult {
  name: string;
  rowsPerSec: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  errors: number;
  /** First error message, when there were errors. */
  firstError?: string;
}

export interface RowCheck {
  ids: number;
  /** The store's `full` table returned exactly Redis's blobs. */
  fullEqualsRedis: boolean;
  /** Largest |int8 row − fp32 row| (quantization error). */
  int8MaxAbsError: number;
}

export type LoadMessage =
  | { type: 'progress'; line: string }
  /** Sent when a measured window starts and ends, so the parent can read the server's CPU time. */
  | { type: 'window'; name: string; event: 'start' | 'end' }
  | { type: 'result'; phases: PhaseResult[]; check?: RowCheck }
  | { type: 'error'; message: string };

/**
 * Fetches the rows of `ids` (ids.length of them) as fp32 into `out`. One Fetch per loop: it may
 * keep per-loop buffers, since a loop has one call in flight at a time.
 */
type Fetch = (ids: Uint32Array, out: Float32Array<ArrayBuffer>) => Promise<void>;
type FetchFactory = () => Fetch;

const CODES = common.RowEncoding.ROW_ENCODING_CODES;
const FLOAT32 = common.RowEncoding.ROW_ENCODING_FLOAT32_LE;

function storeFetch(client: StoreClient, target: StoreTarget, dim: number): FetchFactory {
  const encoding = target.encoding === 'codes' ? CODES : FLOAT32;
  return () => {
    // BatchLookup, the path the ranker takes (over LookupStream unless the client is configured
    // for unary calls). The generated request type wants a number[]: one per loop, refilled.
    const ids: number[] = [];
    const request = {
      model: target.model,
      tables: [{ table: target.table, ids }],
      encoding,
      version: '',
    };
    return async (wanted, out) => {
      ids.length = wanted.length;
      for (let i = 0; i < wanted.length; i += 1) ids[i] = wanted[i] as number;
      const response = await client.batchLookup(request);
      const rows = response.tables[0]?.rows;
      if (rows === undefined || rows.count !== wanted.length || rows.dim !== dim)
        throw new Error(
          `store returned ${rows?.count ?? 0} rows × ${rows?.dim ?? 0}, expected ${wanted.length} × ${dim}`,
        );
      decodeRows(rows, out);
    };
  };
}

function redisFetch(client: Redis, prefix: string, dim: number): FetchFactory {
  const rowBytes = dim * 4;
  return () => {
    const keys: string[] = [];
    return async (ids, out) => {
      keys.length = ids.length;
      for (let i = 0; i < ids.length; i += 1) keys[i] = `${prefix}${ids[i] as number}`;
      const blobs = await client.mgetBuffer(keys);
      const bytes = new Uint8Array(out.buffer, out.byteOffset, ids.length * rowBytes);
      if (blobs.length !== ids.length)
        throw new Error(`redis returned ${blobs.length} values for ${ids.length} keys`);
      for (let i = 0; i < blobs.length; i += 1) {
        const blob = blobs[i];
        if (blob === null || blob === undefined || blob.length !== rowBytes)
          throw new Error(`redis key ${keys[i]}: ${blob == null ? 'missing' : 'wrong size'}`);
        // A float32 little-endian blob is the fp32 row: a byte copy on this little-endian machine.
        bytes.set(blob, i * rowBytes);
      }
    };
  };
}

/** Uniform ids in [0, rows): one 32-bit draw each (multiply-shift; rows < 2^32). */
function randomIds(rng: Rng, rows: number, out: Uint32Array): Uint32Array {
  for (let i = 0; i < out.length; i += 1) out[i] = Math.floor((rng.nextU32() / 4294967296) * rows);
  return out;
}

/** What one target measured, accumulated over its rounds. */
class Tally {
  readonly latencies: number[] = [];
  rows = 0;
  errors = 0;
  firstError: string | undefined;
  seconds = 0;

  result(name: string): PhaseResult {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      name,
      rowsPerSec: this.rows / this.seconds,
      callsPerSec: this.latencies.length / this.seconds,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      calls: this.latencies.length,
      errors: this.errors,
      ...(this.firstError === undefined ? {} : { firstError: this.firstError }),
    };
  }
}

/** `concurrency` loops calling `fetch` until `seconds` have passed; adds what they did to `tally`. */
async function drive(
  fetches: Fetch[],
  config: LoadConfig,
  seconds: number,
  rng: Rng,
  tally: Tally,
): Promise<void> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let lastDone = started;
  const loop = async (fetch: Fetch) => {
    const ids = new Uint32Array(config.batch);
    const out = new Float32Array(config.batch * config.dim);
    while (performance.now() < until) {
      randomIds(rng, config.rows, ids);
      const t0 = performance.now();
      try {
        await fetch(ids, out);
        const t1 = performance.now();
        tally.latencies.push(t1 - t0);
        tally.rows += ids.length;
        lastDone = t1;
      } catch (err) {
        tally.errors += 1;
        tally.firstError ??= err instanceof Error ? err.message : String(err);
        lastDone = performance.now();
      }
    }
  };
  await Promise.all(fetches.map(loop));
  // Calls started before the deadline are waited for and counted: the window ends at the last.
  tally.seconds += (lastDone - started) / 1000;
}

/** Reads the same ids from Redis and from both store tables and compares the rows. */
async function checkRows(
  config: LoadConfig,
  tables: { full: StoreTarget; int8: StoreTarget },
  store: StoreClient,
  redis: Redis,
): Promise<RowCheck> {
  const count = Math.min(64, config.rows);
  const ids = randomIds(new Rng(config.seed + 7), config.rows, new Uint32Array(count));
  const read = async (factory: FetchFactory) => {
    const out = new Float32Array(count * config.dim);
    await factory()(ids, out);
    return out;
  };
  const fromRedis = await read(redisFetch(redis, config.redisPrefix, config.dim));
  const fromFull = await read(storeFetch(store, tables.full, config.dim));
  const fromInt8 = await read(storeFetch(store, tables.int8, config.dim));
  let int8MaxAbsError = 0;
  for (let i = 0; i < fromRedis.length; i += 1)
    int8MaxAbsError = Math.max(
      int8MaxAbsError,
      Math.abs((fromInt8[i] as number) - (fromRedis[i] as number)),
    );
  return {
    ids: count,
    fullEqualsRedis: fromFull.every((v, i) => Object.is(v, fromRedis[i])),
    int8MaxAbsError,
  };
}

export async function runLoad(
  config: LoadConfig,
  send: (message: LoadMessage) => void,
): Promise<{ phases: PhaseResult[]; check?: RowCheck }> {
  const stores = Array.from(
    { length: config.connections },
    () =>
      new StoreClient(
        { address: config.storeAddress, tls: {}, timeoutMs: 30_000, streams: config.streams },
        // A benchmark counts failures instead of hiding them behind retries.
        { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
      ),
  );
  // Each connects on its first command: a run without Redis phases never opens one.
  const redises = Array.from(
    { length: config.connections },
    () =>
      new Redis({
        host: '127.0.0.1',
        port: config.redisPort,
        maxRetriesPerRequest: 0,
        lazyConnect: true,
      }),
  );
  const store = stores[0] as StoreClient;
  const redis = redises[0] as Redis;
  const progress = (line: string) => send({ type: 'progress', line });
  try {
    let check: RowCheck | undefined;
    if (config.check !== undefined) {
      check = await checkRows(config, config.check, store, redis);
      progress(
        `check: ${check.ids} rows, full ${check.fullEqualsRedis ? '=' : '≠'} redis, int8 max |error| ${check.int8MaxAbsError.toExponential(2)}`,
      );
    }
    const rng = new Rng(config.seed);
    const targets = config.phases.map(({ name, target }) => {
      const factories =
        target.kind === 'redis'
          ? redises.map((client) => redisFetch(client, config.redisPrefix, config.dim))
          : stores.map((client) => storeFetch(client, target, config.dim));
      return {
        name,
        fetches: Array.from({ length: config.concurrency }, (_, k) =>
          (factories[k % factories.length] as FetchFactory)(),
        ),
        tally: new Tally(),
      };
    });
    const slice = config.seconds / config.rounds;
    for (let round = 0; round < config.rounds; round += 1) {
      for (const target of targets) {
        if (round === 0)
          await drive(target.fetches, config, config.warmupSeconds, rng, new Tally());
        send({ type: 'window', name: target.name, event: 'start' });
        await drive(target.fetches, config, slice, rng, target.tally);
        send({ type: 'window', name: target.name, event: 'end' });
      }
    }
    const phases = targets.map((t) => t.tally.result(t.name));
    for (const r of phases)
      progress(
        `${r.name}: ${Math.round(r.rowsPerSec)} rows/s (${Math.round(r.callsPerSec)} calls/s), p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors > 0 ? `, ${r.errors} errors (${r.firstError})` : ''}`,
      );
    return { phases, ...(check === undefined ? {} : { check }) };
  } finally {
    for (const client of stores) client.close();
    for (const client of redises) client.disconnect();
  }
}

// Entry point when forked: one `run` message in, progress and one result (or error) out.
if (require.main === module) {
  const send = (message: LoadMessage) => process.send?.(message);
  let finished = false;
  // The benchmark process went away (even killed): stop instead of loading its servers.
  process.once('disconnect', () => {
    if (!finished) process.exit(1);
  });
  process.once('message', (message: { type?: string; config?: LoadConfig }) => {
    if (message.type !== 'run' || message.config === undefined) {
      send({ type: 'error', message: 'expected a run message' });
      process.exit(1);
    }
    runLoad(message.config, send).then(
      (result) => {
        send({ type: 'result', ...result });
        finished = true;
        process.disconnect();
      },
      (err: unknown) => {
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
        finished = true;
        process.disconnect();
        process.exitCode = 1;
      },
    );
  });
}
