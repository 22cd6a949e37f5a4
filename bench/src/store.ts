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
// This module runs the bench and parses its command; the Redis side is store-redis.ts, the store
// side store-server.ts, the load generator's process store-load-runner.ts, the report's shape and
// assembly store-report.ts.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registry } from '@embpress/compression';
import { ModelRegistryDir } from '@embpress/model-registry';
import { integerOption, atLeastOption, oneOfOption } from '@embpress/service-kit/config';
import { StoreClient } from '@embpress/store-client';
import { BenchSetupError } from './bench-setup-error';
import type { StoreTarget } from './store-load';
import { runLoadGenerator } from './store-load-runner';
import { rssBytes, stopChild } from './store-proc';
import {
  findRedisServer,
  infoNumber,
  loadRedis,
  REDIS_PREFIX,
  startRedis,
  type RunningRedis,
} from './store-redis';
import {
  ratios,
  side,
  type StoreBenchOptions,
  type StoreBenchReport,
  type StoreEncoding,
  type StoreMemory,
} from './store-report';
import { publish, seededRows, startStore, VERSION } from './store-server';
import { SERVICE_ARGS } from './node-args';

export { BenchSetupError, findRedisServer };
export type {
  Cores,
  SideResult,
  StoreBenchOptions,
  StoreBenchReport,
  StoreEncoding,
  StoreMemory,
} from './store-report';

const MODEL_INT8 = 'bench-int8';
const MODEL_FULL = 'bench-full';
const TABLE_INT8 = 'rowwise-int8';
const TABLE_FULL = 'full';

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

    // The store and the load generator start as bin/embpress starts them (node-args.ts); the
    // load generator drives Redis too, so both sides have the same client. --cpu-prof writes a
    // profile at exit.
    const execArgv = [
      ...SERVICE_ARGS,
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
      // VmHWM can read a little below an earlier VmRSS (the kernel syncs its per-thread RSS
      // counters lazily; a CI run saw 100 KB): the peak is at least what was already measured.
      const rssPeakBytes = Math.max(rssBytes(storePid, 'VmHWM'), rssBeforeBytes);
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

const STORE_USAGE = `usage:
  embpress bench store --vs redis [--rows 1000000] [--dim 16] [--batch 512] [--concurrency 16]
                       [--connections 2] [--seconds 10] [--warmup S] [--rounds 5]
                       [--encoding codes|float32] [--seed 1] [--redis-server PATH]
                       [--profile DIR] [--json]
      The same seeded rows in a real redis-server (one float32 blob per key) and in a real
      \`embpress serve store\` (rowwise-int8 and full tables), driven by one load-generator
      process with the same batches, concurrency and connections; the targets take turns in
      --rounds rounds of --seconds/--rounds each after --warmup (default min(2, seconds/2)).
      Reports rows/s, p50/p99, resident bytes per row and their ratios. --profile DIR writes
      the store's CPU profile there. Needs redis-server (apt-get install redis-server).`;

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
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${STORE_USAGE}\n`);
    return;
  }
  oneOfOption('vs', values.vs, ['redis'] as const);
  const encoding = oneOfOption('encoding', values.encoding, ['codes', 'float32'] as const);
  const rows = integerOption('rows', values.rows, 1, 2 ** 32 - 1);
  const seconds = atLeastOption('seconds', values.seconds, 0.1);
  const report = await benchStore(
    {
      rows,
      dim: integerOption('dim', values.dim, 1),
      batch: integerOption('batch', values.batch, 1),
      concurrency: integerOption('concurrency', values.concurrency, 1),
      connections: integerOption('connections', values.connections, 1),
      seconds,
      warmupSeconds:
        values.warmup === undefined
          ? Math.min(2, seconds / 2)
          : atLeastOption('warmup', values.warmup, 0),
      rounds: integerOption('rounds', values.rounds, 1),
      encoding,
      seed: integerOption('seed', values.seed, 0),
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
