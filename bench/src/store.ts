// `embpress bench store --vs redis`: the embedding store against Redis on the same machine, the
// same rows and the same client load. One run starts everything it measures and stops it again:
//  - redis-server (the Debian package; never installed by us) on 127.0.0.1, a free port, no
//    persistence, stopped by its pid;
//  - the store as a real `embpress serve store` child process on a temporary registry;
//  - a load-generator child process (store-load.ts) that drives both with the same concurrency,
//    so that no server shares its process with the client.
// The same seeded fp32 rows go to Redis (one key per row holding the float32 blob) and to the
// store (a `rowwise-int8` table and a `full` table, each in its own model, loaded one after the
// other, so that the resident memory each adds is measured on its own).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { registry, SparseOptimizer, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir } from '@embpress/model-registry';
import { StoreClient } from '@embpress/store-client';
import type { LoadConfig, LoadMessage, PhaseResult, RowCheck, StoreTarget } from './store-load';

import { BenchSetupError } from './bench-setup-error';

export { BenchSetupError };

export type StoreEncoding = 'codes' | 'float32';

export interface StoreBenchOptions {
  rows: number;
  dim: number;
  batch: number;
  /** Calls in flight per side, each from its own loop. */
  concurrency: number;
  /** Connections per side the loops are spread over (StoreClient / ioredis instances). */
  connections: number;
  /** Seconds measured per target, in total (after a warm-up). */
  seconds: number;
  warmupSeconds: number;
  /** Targets take turns in this many rounds of seconds/rounds each. */
  rounds: number;
  /** Wire encoding of the rowwise-int8 table: its codes (client-side decode) or fp32. */
  encoding: StoreEncoding;
  seed: number;
  /** Where to look for redis-server (default: PATH, then /usr/bin). */
  redisServer?: string;
  /** When set, the store and the load generator write V8 CPU profiles (.cpuprofile) here. */
  profileDir?: string;
  log: (line: string) => void;
}

export interface SideResult {
  rowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  bytesPerRow: number;
  callsPerSec: number;
  calls: number;
  cores: Cores;
}

/** CPU seconds per wall second while measured (1 = one core busy). */
export interface Cores {
  /** The load-generator process. */
  client: number;
  /** The server process: the store, or redis-server. */
  server: number;
  /** Everything else on the machine (other work competing for the same cores). */
  other: number;
}

interface CpuSample {
  at: number;
  server: number;
  client: number;
  machine: number;
}

interface Ratios {
  rowsPerSec: number;
  p99: number;
  bytesPerRow: number;
}

export interface StoreMemory {
  /** Store RSS before the version was loaded and after it was activated, each read after a
   * full garbage collection in the store (so that freed load buffers are not counted). */
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** The store's peak RSS so far (VmHWM), read after the load: a transient copy made while
   * loading shows here even once it is freed (a high-water mark over the whole run so far). */
  rssPeakBytes: number;
  /** Bytes of the table's own buffers, as the store reports them (LoadVersion memoryBytes). */
  tableBytes: number;
  /** Bytes of the version's table files (what the store reads, verifies and decodes). */
  fileBytes: number;
  /** Wall seconds of the LoadVersion call (read, SHA-256, section CRCs, decode). */
  loadSeconds: number;
  /** fileBytes / 2^30 / loadSeconds. */
  loadGiBPerSecond: number;
}

export interface StoreBenchReport {
  benchmark: 'store-vs-redis';
  date: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    redis: string;
    /** 1-minute load average before and after the run (other work on the machine). */
    loadAverage: { before: number; after: number };
  };
  args: Omit<StoreBenchOptions, 'log' | 'redisServer' | 'profileDir'>;
  /** The rowwise-int8 table (what `ratios` compare). */
  store: SideResult & { table: string; encoding: StoreEncoding };
  storeFull: SideResult & { table: string; encoding: StoreEncoding };
  redis: SideResult;
  /** store / redis, rowwise-int8 table. */
  ratios: Ratios;
  /** store / redis, full table. */
  ratiosFull: Ratios;
  /** What bytesPerRow was computed from. */
  memory: {
    storeInt8: StoreMemory;
    storeFull: StoreMemory;
    redis: {
      usedMemoryBeforeBytes: number;
      usedMemoryAfterBytes: number;
      /** RSS growth of redis-server / rows: the store's measure, for comparison. */
      rssBytesPerRow: number;
    };
  };
  /** Rows read back from both sides before the timed runs. */
  check: RowCheck;
}

const MODEL_INT8 = 'bench-int8';
const MODEL_FULL = 'bench-full';
const TABLE_INT8 = 'rowwise-int8';
const TABLE_FULL = 'full';
const VERSION = 'v1';
const REDIS_PREFIX = 'emb:';
// The product's own CLI (`embpress serve ...`), run as a user runs it: a process started from its
// path in the repository, not an import (the bench app does not depend on the cli app).
const MAIN = join(__dirname, '..', '..', 'cli', 'src', 'main.ts');
const LOAD_GENERATOR = join(__dirname, 'store-load.ts');

/**
 * Preloaded into the store process (with --expose-gc; written to the run's temp directory):
 * answers a `bench-gc` message on the IPC channel with a full collection, so that the store's
 * RSS can be read without garbage, and stops the store (SIGTERM, its graceful stop) when the
 * benchmark process goes away, even killed. The channel is unref'd again so that it never keeps
 * the store alive. The serving code is untouched.
 */
const STORE_PRELOAD = `'use strict';
process.on('message', (m) => {
  if (m && m.type === 'bench-gc') {
    globalThis.gc();
    process.send({ type: 'bench-gc-done' });
  }
});
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
process.channel?.unref();
`;

// --- small helpers --------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Stops a child by its pid and waits for it (SIGKILL after 5 s). */
function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Resident set size of a process, from /proc/<pid>/status (VmRSS, or its peak VmHWM; kB). */
function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]) * 1024;
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields from the last ')'. utime and
  // stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
  const [, ...fields] = line.trim().split(/\s+/).map(Number);
  const busy = fields.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
  return busy / CLOCK_TICKS;
}

// --- redis-server ---------------------------------------------------------------------------------

/** The redis-server executable: `explicit`, else on PATH, else /usr/bin/redis-server. */
export function findRedisServer(explicit?: string, path = process.env.PATH ?? ''): string {
  const candidates =
    explicit !== undefined
      ? [explicit]
      : [
          ...path
            .split(delimiter)
            .filter((d) => d !== '')
            .map((d) => join(d, 'redis-server')),
          '/usr/bin/redis-server',
        ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  throw new BenchSetupError(
    `redis-server not found: apt-get install redis-server (looked for ${candidates.join(', ')})`,
  );
}

/** A port that was free a moment ago (redis-server cannot report the port it bound). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface RunningRedis {
  child: ChildProcess;
  port: number;
  client: Redis;
  version: string;
}

async function startRedis(
  executable: string,
  children: ChildProcess[],
  log: (line: string) => void,
): Promise<RunningRedis> {
  // The port is picked before redis binds it and could be taken in between: a failed start is
  // retried on a fresh port.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      executable,
      [
        ...['--bind', '127.0.0.1', '--port', String(port), '--protected-mode', 'yes'],
        ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        ...['--logfile', '', '--loglevel', 'warning'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Refused connections while redis starts are expected: the ping loop below retries.
    client.on('error', () => undefined);
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${output.trim()}`);
        try {
          if (client.status !== 'ready') await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          client.disconnect();
          return false;
        }
      }, 10_000);
      const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
      log(`redis-server ${version} on 127.0.0.1:${port} (pid ${child.pid})`);
      return { child, port, client, version };
    } catch (err) {
      client.disconnect();
      await stopChild(child, 'SIGTERM');
      if (attempt >= 3) throw err;
    }
  }
}

function infoNumber(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (match === null) throw new Error(`redis INFO has no ${field}`);
  return Number(match[1]);
}

/** One key per row holding its float32 blob: MSET in chunks, a few chunks in flight. */
async function loadRedis(client: Redis, rows: Float32Array, count: number, dim: number) {
  const chunk = 10_000;
  const inFlight: Array<Promise<unknown>> = [];
  for (let start = 0; start < count; start += chunk) {
    const args: Array<string | Buffer> = [];
    for (let r = start; r < Math.min(count, start + chunk); r += 1)
      args.push(
        `${REDIS_PREFIX}${r}`,
        Buffer.from(rows.buffer, rows.byteOffset + r * dim * 4, dim * 4),
      );
    inFlight.push(client.mset(args));
    if (inFlight.length >= 8) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

// --- the store ------------------------------------------------------------------------------------

interface RunningStore {
  child: ChildProcess;
  port: number;
  /** Full garbage collection in the store (see STORE_PRELOAD). */
  collectGarbage(): Promise<void>;
}

/**
 * `embpress serve store` as a child process, on port 0, with its registry (`models`) and span
 * file in `dir`; resolves once it reports SERVING over IPC (as `serve all` children do).
 */
function startStore(
  dir: string,
  execArgv: string[],
  children: ChildProcess[],
): Promise<RunningStore> {
  const preload = join(dir, 'store-preload.cjs');
  writeFileSync(preload, STORE_PRELOAD);
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The user's store settings (TLS, admin token, limits) must not change what is measured.
  for (const key of Object.keys(env)) if (key.startsWith('EMBPRESS_STORE_')) delete env[key];
  Object.assign(env, {
    EMBPRESS_STORE_HOST: '127.0.0.1',
    EMBPRESS_STORE_PORT: '0',
    EMBPRESS_STORE_REGISTRY_ROOT: join(dir, 'models'),
    EMBPRESS_SPANS_FILE: join(dir, 'spans.jsonl'),
    EMBPRESS_LOG_LEVEL: 'warn',
  });
  const child = fork(MAIN, ['serve', 'store'], {
    execArgv: [...execArgv, '--expose-gc', '--require', preload],
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const collectGarbage = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('store did not answer a GC request')),
        30_000,
      );
      const onMessage = (message: { type?: string }) => {
        if (message.type !== 'bench-gc-done') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ type: 'bench-gc' });
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`store not ready within 30 s:\n${output}`)),
      30_000,
    );
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolve({ child, port: message.port, collectGarbage });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`store exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

/** The seeded rows: the initial table of a `full` trainable (uniform ±1/√rows). */
function seededRows(rows: number, dim: number, seed: number): CompressedTable {
  const { method, params } = registry.resolve('full');
  if (method.kind !== 'trainable') throw new Error('full is expected to be trainable');
  return method
    .createTrainable({ fields: [rows], dim }, params, {
      seed,
      optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.01 }),
    })
    .toTable();
}

/** Writes `table` as the only table of `<model>/v1` in the registry; returns its file's bytes. */
function publish(
  root: ModelRegistryDir,
  model: string,
  name: string,
  table: CompressedTable,
): number {
  const manifest = root.writeVersion({
    model,
    version: VERSION,
    tables: [
      {
        name,
        method: table.method,
        spec: table.spec,
        rows: table.rows,
        dim: table.dim,
        memoryBytes: table.memoryBytes(),
        bytes: table.encode(),
      },
    ],
  });
  return manifest.tables.reduce((sum, t) => sum + t.fileBytes, 0);
}

// --- the load generator ---------------------------------------------------------------------------

function runLoadGenerator(
  config: LoadConfig,
  execArgv: string[],
  serverPid: (phase: string) => number,
  children: ChildProcess[],
  log: (line: string) => void,
) {
  const child = fork(LOAD_GENERATOR, [], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  // CPU over the measured windows of each phase, read from /proc at the window's start and end
  // messages: the server's, the load generator's, and the whole machine's (the rest of which is
  // other work competing for the cores).
  const sample = (phase: string): CpuSample => ({
    at: performance.now(),
    server: cpuSeconds(serverPid(phase)),
    client: cpuSeconds(child.pid as number),
    machine: machineBusySeconds(),
  });
  const sums = new Map<string, CpuSample>();
  const opened = new Map<string, CpuSample>();
  const result = new Promise<{ phases: PhaseResult[]; check: RowCheck }>((resolve, reject) => {
    let outcome: LoadMessage | undefined;
    child.on('message', (message: LoadMessage) => {
      if (message.type === 'progress') log(message.line);
      else if (message.type === 'window') {
        const now = sample(message.name);
        const start = opened.get(message.name);
        if (message.event === 'start') opened.set(message.name, now);
        else if (start !== undefined) {
          const sum = sums.get(message.name) ?? { at: 0, server: 0, client: 0, machine: 0 };
          sum.at += (now.at - start.at) / 1000;
          sum.server += now.server - start.server;
          sum.client += now.client - start.client;
          sum.machine += now.machine - start.machine;
          sums.set(message.name, sum);
        }
      } else outcome = message;
    });
    // Settled once the child has exited (so that its CPU profile, if asked for, is written).
    child.once('exit', (code, signal) => {
      if (outcome?.type === 'result' && outcome.check !== undefined)
        resolve({ phases: outcome.phases, check: outcome.check });
      else if (outcome?.type === 'error') reject(new Error(`load generator: ${outcome.message}`));
      else reject(new Error(`load generator exited (${code ?? signal}) without a result`));
    });
  });
  child.send({ type: 'run', config });
  const cores = (phase: string): Cores => {
    const sum = sums.get(phase);
    if (sum === undefined || sum.at === 0) throw new Error(`no measured window for ${phase}`);
    return {
      client: sum.client / sum.at,
      server: sum.server / sum.at,
      other: Math.max(0, sum.machine - sum.client - sum.server) / sum.at,
    };
  };
  return { result, cores };
}

// --- the run --------------------------------------------------------------------------------------

function side(
  phases: PhaseResult[],
  name: string,
  bytesPerRow: number,
  cores: (phase: string) => Cores,
): SideResult {
  const phase = phases.find((p) => p.name === name);
  if (phase === undefined) throw new Error(`load generator returned no result for ${name}`);
  if (phase.errors > 0)
    throw new Error(`${name}: ${phase.errors} calls failed, the first with: ${phase.firstError}`);
  if (phase.calls === 0) throw new Error(`${name}: no call completed`);
  return {
    rowsPerSec: phase.rowsPerSec,
    p50Ms: phase.p50Ms,
    p99Ms: phase.p99Ms,
    bytesPerRow,
    callsPerSec: phase.callsPerSec,
    calls: phase.calls,
    cores: cores(name),
  };
}

function ratios(a: SideResult, b: SideResult): Ratios {
  return {
    rowsPerSec: a.rowsPerSec / b.rowsPerSec,
    p99: a.p99Ms / b.p99Ms,
    bytesPerRow: a.bytesPerRow / b.bytesPerRow,
  };
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export async function benchStore(
  options: StoreBenchOptions,
  command = 'embpress bench store',
): Promise<StoreBenchReport> {
  const { rows, dim, log } = options;
  const redisServer = findRedisServer(options.redisServer);
  const loadBefore = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'embpress-bench-store-'));
  const children: ChildProcess[] = [];
  // Children are stopped on every way out: the end, an error, Ctrl-C/SIGTERM, process exit.
  const killAll = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);
  let redis: RunningRedis | undefined;
  let admin: StoreClient | undefined;
  try {
    log(`${rows} seeded rows × ${dim}: full and rowwise-int8 tables`);
    const full = seededRows(rows, dim, options.seed);
    const data = new Float32Array(rows * dim);
    full.lookup(
      Uint32Array.from({ length: rows }, (_, i) => i),
      data,
    );
    const int8Codec = registry.resolve('rowwise-int8');
    if (int8Codec.method.kind !== 'codec')
      throw new Error('rowwise-int8 is expected to be a codec');
    const int8 = int8Codec.method.compress(data, { fields: [rows], dim }, int8Codec.params, {
      seed: options.seed,
    });
    const registryDir = new ModelRegistryDir(join(dir, 'models'));
    const fileBytes = {
      [MODEL_INT8]: publish(registryDir, MODEL_INT8, TABLE_INT8, int8),
      [MODEL_FULL]: publish(registryDir, MODEL_FULL, TABLE_FULL, full),
    };

    // Redis: used_memory (what Redis itself counts) and RSS, before and after the rows.
    redis = await startRedis(redisServer, children, log);
    const redisPid = redis.child.pid as number;
    const usedBefore = infoNumber(await redis.client.info('memory'), 'used_memory');
    const redisRssBefore = rssBytes(redisPid);
    const loadStarted = Date.now();
    await loadRedis(redis.client, data, rows, dim);
    const usedAfter = infoNumber(await redis.client.info('memory'), 'used_memory');
    const redisRssAfter = rssBytes(redisPid);
    const keys = await redis.client.dbsize();
    if (keys !== rows) throw new Error(`redis holds ${keys} keys, expected ${rows}`);
    log(
      `redis: ${rows} keys in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s, used_memory +${MiB(usedAfter - usedBefore)}`,
    );
    redis.client.disconnect();

    // The store: TypeScript through tsx like bin/embpress; --cpu-prof writes a profile at exit.
    const execArgv = [
      '--require',
      require.resolve('tsx/cjs'),
      ...(options.profileDir === undefined
        ? []
        : ['--cpu-prof', '--cpu-prof-dir', options.profileDir]),
    ];
    const running = await startStore(dir, execArgv, children);
    const storePid = running.child.pid as number;
    log(`store on 127.0.0.1:${running.port} (pid ${storePid})`);
    admin = new StoreClient({
      address: `127.0.0.1:${running.port}`,
      tls: {},
      timeoutMs: 30_000,
      streams: 0,
    });
    const client = admin;
    const settledRss = async () => {
      await running.collectGarbage();
      return rssBytes(storePid);
    };
    const loadAndMeasure = async (model: keyof typeof fileBytes): Promise<StoreMemory> => {
      const rssBeforeBytes = await settledRss();
      const started = performance.now();
      const loaded = await client.loadVersion(
        { model, version: VERSION },
        { deadline: Date.now() + 300_000 },
      );
      const loadSeconds = (performance.now() - started) / 1000;
      const rssPeakBytes = rssBytes(storePid, 'VmHWM');
      await client.activateVersion({ model, version: VERSION });
      const rssAfterBytes = await settledRss();
      const tableBytes = loaded.tables.reduce((sum, t) => sum + t.memoryBytes, 0);
      const loadGiBPerSecond = fileBytes[model] / 2 ** 30 / loadSeconds;
      log(
        `store: ${model} active, RSS +${MiB(rssAfterBytes - rssBeforeBytes)} (its table: ${MiB(tableBytes)}), peak +${MiB(rssPeakBytes - rssBeforeBytes)}, loaded in ${loadSeconds.toFixed(2)} s (${loadGiBPerSecond.toFixed(3)} GiB/s)`,
      );
      return {
        rssBeforeBytes,
        rssAfterBytes,
        rssPeakBytes,
        tableBytes,
        fileBytes: fileBytes[model],
        loadSeconds,
        loadGiBPerSecond,
      };
    };
    const memInt8 = await loadAndMeasure(MODEL_INT8);
    const memFull = await loadAndMeasure(MODEL_FULL);

    // The load, from its own process.
    const storeTarget = (model: string, table: string, encoding: StoreEncoding): StoreTarget => ({
      kind: 'store',
      model,
      table,
      encoding,
    });
    const load = runLoadGenerator(
      {
        storeAddress: `127.0.0.1:${running.port}`,
        redisPort: redis.port,
        redisPrefix: REDIS_PREFIX,
        rows,
        dim,
        batch: options.batch,
        concurrency: options.concurrency,
        connections: options.connections,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        rounds: options.rounds,
        seed: options.seed,
        check: {
          full: storeTarget(MODEL_FULL, TABLE_FULL, 'float32'),
          int8: storeTarget(MODEL_INT8, TABLE_INT8, 'codes'),
        },
        phases: [
          { name: 'store', target: storeTarget(MODEL_INT8, TABLE_INT8, options.encoding) },
          { name: 'redis', target: { kind: 'redis' } },
          { name: 'storeFull', target: storeTarget(MODEL_FULL, TABLE_FULL, 'float32') },
        ],
      },
      execArgv,
      (phase) => (phase === 'redis' ? redisPid : storePid),
      children,
      log,
    );
    const { phases, check } = await load.result;

    const perRow = (m: StoreMemory) => (m.rssAfterBytes - m.rssBeforeBytes) / rows;
    const storeSide = side(phases, 'store', perRow(memInt8), load.cores);
    const storeFullSide = side(phases, 'storeFull', perRow(memFull), load.cores);
    const redisSide = side(phases, 'redis', (usedAfter - usedBefore) / rows, load.cores);
    return {
      benchmark: 'store-vs-redis',
      date: new Date().toISOString(),
      command,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        redis: redis.version,
        loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
      },
      args: {
        rows,
        dim,
        batch: options.batch,
        concurrency: options.concurrency,
        connections: options.connections,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        rounds: options.rounds,
        encoding: options.encoding,
        seed: options.seed,
      },
      store: { ...storeSide, table: TABLE_INT8, encoding: options.encoding },
      storeFull: { ...storeFullSide, table: TABLE_FULL, encoding: 'float32' },
      redis: redisSide,
      ratios: ratios(storeSide, redisSide),
      ratiosFull: ratios(storeFullSide, redisSide),
      memory: {
        storeInt8: memInt8,
        storeFull: memFull,
        redis: {
          usedMemoryBeforeBytes: usedBefore,
          usedMemoryAfterBytes: usedAfter,
          rssBytesPerRow: (redisRssAfter - redisRssBefore) / rows,
        },
      },
      check,
    };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    admin?.close();
    redis?.client.disconnect();
    await Promise.all(children.map((child) => stopChild(child, 'SIGTERM')));
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- the command ----------------------------------------------------------------------------------

/** `embpress bench store --vs redis ...`: progress on stderr, the report as the last stdout line. */
export async function benchStoreCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      vs: { type: 'string', default: 'redis' },
      rows: { type: 'string', default: '1000000' },
      dim: { type: 'string', default: '16' },
      batch: { type: 'string', default: '512' },
      concurrency: { type: 'string', default: '16' },
      // Two: on one HTTP/2 connection Node's client and server take turns (each handles a burst
      // of frames per event-loop turn while the other waits); a second overlaps them (+20-30%
      // rows/s at batch 512 on 2 cores, docs/benchmarks.md). Redis gets the same number.
      connections: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      encoding: { type: 'string', default: 'codes' },
      seed: { type: 'string', default: '1' },
      'redis-server': { type: 'string' },
      profile: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.vs !== 'redis')
    throw new Error(`bench store: --vs must be redis, got ${JSON.stringify(values.vs)}`);
  if (values.encoding !== 'codes' && values.encoding !== 'float32')
    throw new Error(
      `bench store: --encoding must be codes or float32, got ${JSON.stringify(values.encoding)}`,
    );
  const num = (name: string, raw: string, min: number, integer = true) => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
      throw new Error(
        `bench store: --${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(raw)}`,
      );
    return v;
  };
  const rows = num('rows', values.rows, 1);
  if (rows >= 2 ** 32) throw new Error('bench store: --rows must be below 2^32');
  const seconds = num('seconds', values.seconds, 0.1, false);
  const report = await benchStore(
    {
      rows,
      dim: num('dim', values.dim, 1),
      batch: num('batch', values.batch, 1),
      concurrency: num('concurrency', values.concurrency, 1),
      connections: num('connections', values.connections, 1),
      seconds,
      warmupSeconds:
        values.warmup === undefined
          ? Math.min(2, seconds / 2)
          : num('warmup', values.warmup, 0, false),
      rounds: num('rounds', values.rounds, 1),
      encoding: values.encoding,
      seed: num('seed', values.seed, 0),
      redisServer: values['redis-server'],
      profileDir: values.profile,
      log: (line) => process.stderr.write(`${line}\n`),
    },
    ['embpress bench store', ...args].join(' '),
  );
  process.stdout.write(
    values.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`,
  );
}
