// `embpress bench ranker --candidates 100 --rate 200 --duration 20 [--warmup S] --json`
// (issue #6): the ranker's latency at a constant arrival rate, with everything on one machine.
//
//  1. A demo DLRM (--arch small or reference layers) trained on synthetic Criteo-shaped data, cached under
//     --dir by its settings and reused by later runs.
//  2. `embpress serve store` and `embpress serve ranker` as child processes on 127.0.0.1:0.
//  3. A separate load process (ranker-load.ts) sends `--sample` requests one by one, then Rank at
//     --rate requests/s for --duration seconds (after --warmup) with the open-loop runner of
//     @embpress/loadtest: latency counts from each request's scheduled start.
//  4. maxScoreDiff: the sampled requests' scores against an offline scoring of the same rows with
//     the same model version (libs/data encoding, the table read from its artifact, the dense
//     network from its weights), i.e. the equivalence check on live traffic.
//  5. Where a request's time goes: per-stage span durations of the ranker (feature mapping, store
//     lookup, dense forward) and of the store's BatchLookup, from the span file, plus the CPU
//     seconds of each process over the run and per request.
//  6. The ranker's hot-row cache (--row-cache-bytes, the ranker's default when absent; 0 = off):
//     its hit ratio over the measured window, summed from the embpress.cache.hits / .misses
//     attributes of the ranker.store_lookup spans (distinct ids per request).
// Progress goes to stderr; with --json the last stdout line is one JSON object.
// This module runs the bench and parses its command; the demo model and its offline scores are
// ranker-model.ts, the load generator's process ranker-load-process.ts, the CPU readings
// ranker-cpu.ts, the options and the report ranker-report.ts.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { integerOption, atLeastOption, oneOfOption } from '@embpress/service-kit/config';
import { cpuSeconds, machineBusySeconds } from './ranker-cpu';
import type { RankerLoadConfig } from './ranker-load';
import { runLoad } from './ranker-load-process';
import { demoModel, MODEL, offlineScores, training, VERSION } from './ranker-model';
import type { RankerBenchOptions, RankerBenchReport } from './ranker-report';
import { readRawRows } from './ranker-rows';
import { serve, stopChild } from './serve-child';
import { summarizeSpans } from './traces/stage-summary';
import { SERVICE_ARGS } from './node-args';

type ArchName = import('@embpress/training').ArchName;

export { summarizeSpans, type SpanSummary, type StageTimes } from './traces/stage-summary';
export type { RankerBenchOptions, RankerBenchReport } from './ranker-report';

export async function benchRanker(options: RankerBenchOptions): Promise<RankerBenchReport> {
  const { log } = options;
  const model = await demoModel(options);
  const test = await readRawRows(model.source, model.testRange);
  log(`scoring ${test.rows.length} test rows offline`);
  const offline = await offlineScores(model.registryRoot, test);

  const children: ChildProcess[] = [];
  // One directory per bench process: two runs sharing --dir (the default is the same temp
  // directory for every user of the machine) must not read each other's spans. Removed after a
  // run that succeeded; a failed run's logs stay there.
  const runDir = join(options.dir, `run-${process.pid}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const spansFile = join(runDir, 'spans.jsonl');
  const common = { EMBPRESS_SPANS_FILE: spansFile, EMBPRESS_LOG_LEVEL: 'warn' };
  try {
    const storeProc = await serve(
      'store',
      { ...common, EMBPRESS_STORE_REGISTRY_ROOT: model.registryRoot },
      SERVICE_ARGS,
      children,
      join(runDir, 'store.log'),
    );
    const rankerProc = await serve(
      'ranker',
      {
        ...common,
        EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${storeProc.port}`,
        EMBPRESS_RANKER_REGISTRY_ROOT: model.registryRoot,
        ...(options.rowCacheBytes === undefined
          ? {}
          : { EMBPRESS_RANKER_ROW_CACHE_BYTES: String(options.rowCacheBytes) }),
        ...(options.workers === undefined
          ? {}
          : { EMBPRESS_RANKER_WORKERS: String(options.workers) }),
      },
      options.profileDir === undefined
        ? SERVICE_ARGS
        : [...SERVICE_ARGS, '--cpu-prof', '--cpu-prof-dir', options.profileDir],
      children,
      join(runDir, 'ranker.log'),
    );
    log(
      `store :${storeProc.port} (pid ${storeProc.child.pid}), ranker :${rankerProc.port} (pid ${rankerProc.child.pid})`,
    );

    const loadBefore = loadavg()[0] ?? 0;
    let cpuStart:
      | { ranker: number; store: number; machine: number; at: number; epochMs: number }
      | undefined;
    let measureFromMs = 0;
    const config: RankerLoadConfig = {
      address: `127.0.0.1:${rankerProc.port}`,
      model: MODEL,
      source: model.source,
      range: model.testRange,
      candidates: options.candidates,
      form: options.requestForm ?? 'columns',
      pool: options.pool,
      sample: options.sample,
      ratePerSec: options.ratePerSec,
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      deadlineMs: options.deadlineMs,
    };
    log(
      `Rank at ${options.ratePerSec}/s for ${options.warmupSec} + ${options.durationSec} s, ${options.candidates} candidates per request`,
    );
    const { sample, result, firstErrors, pid } = await runLoad(
      config,
      SERVICE_ARGS,
      children,
      log,
      () => {
        measureFromMs = Date.now() + options.warmupSec * 1000;
        cpuStart = {
          ranker: cpuSeconds(rankerProc.child.pid),
          store: cpuSeconds(storeProc.child.pid),
          machine: machineBusySeconds(),
          at: performance.now(),
          epochMs: Date.now(),
        };
      },
    );
    // CPU of the whole run (warm-up included: the sample requests are few), per second.
    const seconds = (performance.now() - (cpuStart?.at ?? 0)) / 1000;
    const loadCpu = cpuSeconds(pid);
    const rankerCpu = cpuSeconds(rankerProc.child.pid) - (cpuStart?.ranker ?? 0);
    const storeCpu = cpuSeconds(storeProc.child.pid) - (cpuStart?.store ?? 0);
    const cpu = {
      ranker: rankerCpu / seconds,
      store: storeCpu / seconds,
      load: loadCpu / seconds,
      machine: (machineBusySeconds() - (cpuStart?.machine ?? 0)) / seconds,
      cores: cpus().length,
    };
    const loadAfter = loadavg()[0] ?? 0;

    let maxScoreDiff = 0;
    for (const request of sample) {
      if (request.version !== VERSION)
        throw new Error(`the ranker answered from version ${request.version}, expected ${VERSION}`);
      request.rows.forEach((row, i) => {
        const expected = offline.scores.get(row);
        const got = request.scores[i] as number;
        const diff = expected === undefined ? Infinity : Math.abs(got - expected);
        maxScoreDiff = Math.max(maxScoreDiff, Number.isNaN(diff) ? Infinity : diff);
      });
    }
    await Promise.all(children.map(stopChild)); // flushes the spans
    const spans = summarizeSpans(spansFile, measureFromMs, cpuStart?.epochMs ?? 0);
    rmSync(runDir, { recursive: true, force: true });
    const looked = spans.cache.hits + spans.cache.misses;
    const metrics = (offline.manifest.metrics ?? {}) as { testAuc?: number | null };
    return {
      candidates: options.candidates,
      ratePerSec: options.ratePerSec,
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      ...result,
      firstErrors,
      maxScoreDiff,
      sampledRequests: sample.length,
      model: {
        name: MODEL,
        version: VERSION,
        method: options.method,
        arch: options.arch,
        architecture: offline.manifest.architecture,
        trainRows: options.rows,
        testAuc: metrics.testAuc ?? null,
      },
      stages: spans.stages,
      cpu,
      cpuMsPerRequest:
        spans.answered === 0
          ? null
          : {
              ranker: (rankerCpu * 1000) / spans.answered,
              store: (storeCpu * 1000) / spans.answered,
              answered: spans.answered,
            },
      rowCacheBytes: options.rowCacheBytes ?? null,
      requestForm: options.requestForm ?? 'columns',
      workers: options.workers ?? null,
      cacheHitRatio: spans.cache.spans === 0 || looked === 0 ? null : spans.cache.hits / looked,
      cacheHits: spans.cache.hits,
      cacheMisses: spans.cache.misses,
      loadAverage: { before: loadBefore, after: loadAfter },
    };
  } finally {
    await Promise.all(children.map(stopChild));
  }
}

const RANKER_USAGE = `usage:
  embpress bench ranker [--candidates 100] [--rate 200] [--duration 20] [--warmup 5]
                        [--rows 100000] [--method rowwise-int8] [--arch small] [--seed 1]
                        [--dir DIR] [--pool 64] [--sample 20] [--deadline-ms 5000]
                        [--request-form columns|rows] [--row-cache-bytes N] [--workers W]
                        [--profile-dir DIR] [--json]
      A demo DLRM trained on --rows synthetic rows (cached in --dir) served by a real store and
      ranker; another process sends Rank requests of --candidates raw test rows (a pool of
      --pool distinct requests) at a constant --rate for --duration seconds after --warmup, and
      checks the first --sample requests' scores against the trainer's predictions. Reports
      p50/p99, achieved rate, errors, CPU per request and where a Rank's time goes.
      --row-cache-bytes and --workers set the ranker's hot-row cache and worker count (default:
      its own); --profile-dir writes the ranker's CPU profile there.`;

export async function benchRankerCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      candidates: { type: 'string', default: '100' },
      rate: { type: 'string', default: '200' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      rows: { type: 'string', default: '100000' },
      method: { type: 'string', default: 'rowwise-int8' },
      arch: { type: 'string', default: 'small' },
      seed: { type: 'string', default: '1' },
      dir: { type: 'string' },
      pool: { type: 'string', default: '64' },
      sample: { type: 'string', default: '20' },
      'deadline-ms': { type: 'string', default: '5000' },
      'profile-dir': { type: 'string' },
      'row-cache-bytes': { type: 'string' },
      'request-form': { type: 'string', default: 'columns' },
      workers: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${RANKER_USAGE}\n`);
    return;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await benchRanker({
    candidates: integerOption('candidates', values.candidates, 1),
    ratePerSec: atLeastOption('rate', values.rate, 0.001),
    durationSec: atLeastOption('duration', values.duration, 0.001),
    warmupSec: atLeastOption('warmup', values.warmup, 0),
    rows: integerOption('rows', values.rows, 1000),
    method: values.method,
    arch: oneOfOption('arch', values.arch, Object.keys(training().ARCHITECTURES) as ArchName[]),
    seed: integerOption('seed', values.seed, 0),
    dir: values.dir ?? join(tmpdir(), 'embpress-bench-ranker'),
    pool: integerOption('pool', values.pool, 1),
    sample: integerOption('sample', values.sample, 1),
    deadlineMs: integerOption('deadline-ms', values['deadline-ms'], 1),
    ...(values['profile-dir'] === undefined ? {} : { profileDir: values['profile-dir'] }),
    ...(values['row-cache-bytes'] === undefined
      ? {}
      : { rowCacheBytes: integerOption('row-cache-bytes', values['row-cache-bytes'], 0) }),
    ...(values.workers === undefined
      ? {}
      : { workers: integerOption('workers', values.workers, 1) }),
    requestForm: oneOfOption('request-form', values['request-form'], ['rows', 'columns'] as const),
    log,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const stages = Object.entries(report.stages)
    .map(([name, s]) => `  ${name}: p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms`)
    .join('\n');
  process.stdout.write(
    `Rank ${report.candidates} candidates at ${report.ratePerSec}/s: p50 ${report.p50Ms.toFixed(2)} ms, p99 ${report.p99Ms.toFixed(2)} ms, achieved ${report.achievedRate.toFixed(1)}/s, errors ${report.errors}, dropped ${report.dropped}, maxScoreDiff ${report.maxScoreDiff}\n` +
      `  CPU per answered request: ranker ${report.cpuMsPerRequest?.ranker.toFixed(2) ?? '-'} ms, store ${report.cpuMsPerRequest?.store.toFixed(2) ?? '-'} ms; row cache hit ratio ${report.cacheHitRatio === null ? 'off' : report.cacheHitRatio.toFixed(3)}\n${stages}\n`,
  );
}
