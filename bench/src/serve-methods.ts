// The serving half of `embpress bench train --what methods --serve`: every trained model version
// is served by a real `embpress serve store` and `embpress serve ranker` (children on 127.0.0.1),
// its test rows are ranked through them as raw features, and the scores are compared with what
// the trainer predicted offline for the same rows. An independent check that serving equals
// training for each method (the store decodes the method's own artifact, the ranker maps raw
// features and runs the dense network) plus a closed-loop Rank latency per method.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { percentile } from '@embpress/loadtest';
import { ModelRegistryDir } from '@embpress/model-registry';
import { ranker } from '@embpress/proto';
import { unaryCall } from '@embpress/service-kit';
import { rowFeatures, type RawRows } from './ranker-rows';
import { serve, stopChild } from './serve-child';
import { SERVICE_ARGS } from './node-args';

export interface ServedModel {
  method: string;
  model: string;
  version: string;
  /** The trainer's test predictions, in the order of the test rows. */
  predictions: Float32Array;
}

export interface ServingRow {
  method: string;
  /** Test rows ranked (100 candidates per Rank call). */
  rowsRanked: number;
  /** Max |ranker score − trainer prediction| over those rows. */
  maxScoreDiff: number;
  /** Closed loop, one Rank call of 100 candidates at a time. */
  rankP50Ms: number;
  rankP99Ms: number;
  error?: string;
}

const CANDIDATES = 100;

export async function serveAndCompare(o: {
  registryRoot: string;
  models: readonly ServedModel[];
  test: RawRows;
  /** Test rows ranked per method at most. */
  maxRows: number;
  workDir: string;
  log: (line: string) => void;
}): Promise<ServingRow[]> {
  // The store serves a model's active version: each method's model has the one just trained.
  const registry = new ModelRegistryDir(o.registryRoot);
  for (const m of o.models) registry.setActiveVersion(m.model, m.version);
  const runDir = join(o.workDir, 'serving');
  mkdirSync(runDir, { recursive: true });
  const children: ChildProcess[] = [];
  const common = { EMBPRESS_SPANS_FILE: join(runDir, 'spans.jsonl'), EMBPRESS_LOG_LEVEL: 'warn' };
  const rows: ServingRow[] = [];
  let client: ranker.RankerServiceClient | undefined;
  try {
    const store = await serve(
      'store',
      { ...common, EMBPRESS_STORE_REGISTRY_ROOT: o.registryRoot },
      SERVICE_ARGS,
      children,
      join(runDir, 'store.log'),
    );
    const rank = await serve(
      'ranker',
      {
        ...common,
        EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${store.port}`,
        EMBPRESS_RANKER_REGISTRY_ROOT: o.registryRoot,
      },
      SERVICE_ARGS,
      children,
      join(runDir, 'ranker.log'),
    );
    client = new ranker.RankerServiceClient(`127.0.0.1:${rank.port}`, credentials.createInsecure());
    for (const m of o.models) {
      const n = Math.min(o.maxRows, m.predictions.length, o.test.rows.length);
      const times: number[] = [];
      let maxScoreDiff = 0;
      try {
        for (let start = 0; start < n; start += CANDIDATES) {
          const chunk = o.test.rows.slice(start, Math.min(n, start + CANDIDATES));
          const request = ranker.RankRequest.fromPartial({
            model: m.model,
            version: m.version,
            candidates: chunk.map((row, i) => ({
              id: String(start + i),
              features: rowFeatures(o.test, row),
            })),
          });
          const t0 = performance.now();
          const response = await unaryCall(client, client.rank, request, { timeoutMs: 30_000 });
          times.push(performance.now() - t0);
          for (const { id, score } of response.ranked)
            maxScoreDiff = Math.max(
              maxScoreDiff,
              Math.abs(score - (m.predictions[Number(id)] as number)),
            );
        }
        times.sort((a, b) => a - b);
        const row = {
          method: m.method,
          rowsRanked: n,
          maxScoreDiff,
          rankP50Ms: percentile(times, 0.5),
          rankP99Ms: percentile(times, 0.99),
        };
        rows.push(row);
        o.log(
          `${m.method}: served ${n} test rows through store + ranker, max |score − trainer| ${maxScoreDiff.toExponential(2)}, Rank p50 ${row.rankP50Ms.toFixed(2)} ms`,
        );
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        o.log(`${m.method}: SERVING FAILED: ${error}`);
        rows.push({
          method: m.method,
          rowsRanked: 0,
          maxScoreDiff: Number.NaN,
          rankP50Ms: Number.NaN,
          rankP99Ms: Number.NaN,
          error,
        });
      }
    }
  } finally {
    client?.close();
    await Promise.all(children.map(stopChild));
  }
  return rows;
}
