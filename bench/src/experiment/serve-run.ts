// The serving half of one experiment run: the run's exported model version is served by a real
// `embpress serve store` and `embpress serve ranker` (children on 127.0.0.1, the run's own
// registry), and Rank is driven at the same constant arrival rate for every run by the ranker
// bench's load generator (ranker-load.ts, @embpress/loadtest's open-loop runner). Reports the
// Rank latency, the store's BatchLookup p99 and where a Rank's time went (from the spans of the
// measured window), and the store's bytes per row as the store itself describes the table.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { ModelRegistryDir } from '@embpress/model-registry';
import { store } from '@embpress/proto';
import { unaryCall } from '@embpress/service-kit';
import type { RankerLoadConfig } from '../ranker-load';
import { runLoad } from '../ranker-load-process';
import { serve, stopChild } from '../serve-child';
import { SERVICE_ARGS } from '../node-args';
import { readSpans } from '../traces/span-file';
import { summarizeSpans } from '../traces/stage-summary';
import { summarizeTraces } from '../traces/summarize';
import type { ComponentTimes, ServingResult } from './records';

export interface LoadSettings {
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  candidates: number;
}

export interface ServeRunOptions {
  registryRoot: string;
  model: string;
  version: string;
  /** Raw rows the requests are built from: a data source (any reader) and its test split. */
  source: string;
  range: { start: number; end: number };
  load: LoadSettings;
  workDir: string;
  log: (line: string) => void;
}

async function describeTable(port: number, model: string): Promise<store.TableInfo> {
  const client = new store.EmbeddingStoreServiceClient(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
  );
  try {
    const res = await unaryCall(client, client.describeTables, { model }, { timeoutMs: 10_000 });
    const table = res.tables.find((t) => t.active) ?? res.tables[0];
    if (table === undefined) throw new Error(`the store describes no table of ${model}`);
    return table;
  } finally {
    client.close();
  }
}

export async function serveRun(o: ServeRunOptions): Promise<ServingResult> {
  new ModelRegistryDir(o.registryRoot).setActiveVersion(o.model, o.version);
  mkdirSync(o.workDir, { recursive: true });
  const spansFile = join(o.workDir, 'spans.jsonl');
  // One ranker process (no cluster workers) and no hot-row cache: every Rank looks its rows up
  // in the store, so the method's own lookup and decode are what is measured.
  const common = { EMBPRESS_SPANS_FILE: spansFile, EMBPRESS_LOG_LEVEL: 'warn' };
  const children: ChildProcess[] = [];
  try {
    const storeProc = await serve(
      'store',
      { ...common, EMBPRESS_STORE_REGISTRY_ROOT: o.registryRoot },
      SERVICE_ARGS,
      children,
      join(o.workDir, 'store.log'),
    );
    const rankerProc = await serve(
      'ranker',
      {
        ...common,
        EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${storeProc.port}`,
        EMBPRESS_RANKER_REGISTRY_ROOT: o.registryRoot,
        EMBPRESS_RANKER_WORKERS: '1',
        EMBPRESS_RANKER_ROW_CACHE_BYTES: '0',
      },
      SERVICE_ARGS,
      children,
      join(o.workDir, 'ranker.log'),
    );
    const table = await describeTable(storeProc.port, o.model);
    const config: RankerLoadConfig = {
      address: `127.0.0.1:${rankerProc.port}`,
      model: o.model,
      source: o.source,
      range: o.range,
      candidates: o.load.candidates,
      form: 'columns',
      pool: 16,
      sample: 2,
      ratePerSec: o.load.ratePerSec,
      durationSec: o.load.durationSec,
      warmupSec: o.load.warmupSec,
      deadlineMs: 5_000,
    };
    let measureFromMs = Number.POSITIVE_INFINITY;
    const { result } = await runLoad(config, SERVICE_ARGS, children, o.log, () => {
      measureFromMs = Date.now() + o.load.warmupSec * 1000;
    });
    await Promise.all(children.map(stopChild)); // flushes the spans
    const stages = summarizeSpans(spansFile, measureFromMs);
    const rank = summarizeTraces(readSpans(spansFile), { fromMs: measureFromMs }).operations.find(
      (op) => op.operation === 'Rank',
    );
    const breakdown: Record<string, ComponentTimes> = {};
    for (const [name, p] of Object.entries(rank?.components ?? {}))
      breakdown[name] = { count: p.count, p50Ms: p.p50Ms, p99Ms: p.p99Ms, meanMs: p.meanMs };
    return {
      ratePerSec: o.load.ratePerSec,
      durationSec: o.load.durationSec,
      candidates: o.load.candidates,
      achievedRate: result.achievedRate,
      completed: result.completed,
      errors: result.errors,
      dropped: result.dropped,
      rankP50Ms: result.p50Ms,
      rankP99Ms: result.p99Ms,
      storeLookupP99Ms: stages.stages['store.BatchLookup (server)']?.p99Ms ?? Number.NaN,
      storeBytesPerRow: table.bytesPerRow,
      breakdown,
    };
  } finally {
    await Promise.all(children.map(stopChild));
  }
}
