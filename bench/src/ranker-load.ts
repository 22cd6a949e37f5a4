// The load generator of `embpress bench ranker`, run as its own process (forked by
// ranker-bench.ts with an IPC channel) so that it never shares a process with the ranker or the
// store it measures. It reads the test rows itself, builds a pool of Rank requests of
// `candidates` raw rows each, serializes each once (so the per-call client cost is the gRPC call,
// not re-encoding the same message), sends the first `sample` requests one by one and reports
// their scores (the parent compares them with offline scores), then drives Rank at a constant
// arrival rate with the open-loop runner of @embpress/loadtest and reports its result.
import { Client } from '@grpc/grpc-js';
import { errorCodeName, runOpenLoop, type OpenLoopResult } from '@embpress/loadtest';
import { ranker } from '@embpress/proto';
import { createClient, unaryCall } from '@embpress/service-kit';
import { readRawRows, rowColumns, rowFeatures } from './ranker-rows';

export interface RankerLoadConfig {
  address: string;
  model: string;
  /** Raw data source of the rows (`criteo:PATH`) and the data rows to draw candidates from. */
  source: string;
  range: { start: number; end: number };
  candidates: number;
  /** How requests carry the candidates: one Feature message per value, or one column per feature. */
  form: 'rows' | 'columns';
  /** Distinct requests, sent round robin. */
  pool: number;
  /** Requests whose scores are sent back for the equivalence check (the pool's first ones). */
  sample: number;
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  deadlineMs: number;
}

export interface SampledRequest {
  /** Data-row position of each candidate, in request order. */
  rows: number[];
  /** Score per candidate, in request order. */
  scores: number[];
  version: string;
}

export type RankerLoadMessage =
  | { type: 'progress'; line: string }
  | { type: 'sample'; requests: SampledRequest[] }
  | { type: 'done'; result: OpenLoopResult; firstErrors: Record<string, string> }
  | { type: 'failed'; message: string };

const RANK_PATH = ranker.RankerServiceService.rank.path;

function send(message: RankerLoadMessage): void {
  process.send?.(message);
}

/** One Rank call of already serialized request bytes, its answer decoded by `decode`. */
function call<T>(
  client: Client,
  bytes: Buffer,
  decode: (b: Buffer) => T,
  deadlineMs: number,
): Promise<T> {
  return unaryCall(
    client,
    (request: Buffer, metadata, options, callback) =>
      client.makeUnaryRequest(
        RANK_PATH,
        (b: Buffer) => b,
        decode,
        request,
        metadata,
        options,
        callback,
      ),
    bytes,
    { timeoutMs: deadlineMs },
  );
}

/** Connections the load generator spreads its calls over, round robin. */
const CONNECTIONS = 4;

async function run(config: RankerLoadConfig): Promise<void> {
  const data = await readRawRows(config.source, config.range);
  const n = data.rows.length;
  if (n < config.candidates)
    throw new Error(`${n} test rows, fewer than ${config.candidates} candidates per request`);
  // Request p takes `candidates` consecutive rows from a start spread over the rows.
  const pool = Array.from({ length: config.pool }, (_, p) => {
    const start = (p * 7919 * config.candidates) % n;
    const rows = Array.from(
      { length: config.candidates },
      (_, i) => data.rows[(start + i) % n] as (typeof data.rows)[number],
    );
    const request = ranker.RankRequest.fromPartial(
      config.form === 'columns'
        ? {
            model: config.model,
            candidateIds: rows.map((_, i) => String(i)),
            columns: rowColumns(data, rows),
          }
        : {
            model: config.model,
            candidates: rows.map((row, i) => ({ id: String(i), features: rowFeatures(data, row) })),
          },
    );
    return {
      rows: rows.map((r) => r.row),
      bytes: Buffer.from(ranker.RankRequest.encode(request).finish()),
    };
  });
  send({
    type: 'progress',
    line: `load: ${config.pool} requests of ${config.candidates} candidates as ${config.form} (${pool[0]?.bytes.length ?? 0} bytes each) from ${n} rows`,
  });
  // Several connections, as several client pods would open: a ranker with workers (Node
  // cluster) hands each connection to one worker, so one connection would load one of them.
  const clients = Array.from({ length: CONNECTIONS }, () =>
    createClient(
      Client,
      { address: config.address, tls: {}, timeoutMs: config.deadlineMs },
      { 'grpc.use_local_subchannel_pool': 1 },
    ),
  );
  const client = clients[0] as Client;
  try {
    const sampled: SampledRequest[] = [];
    for (const entry of pool.slice(0, config.sample)) {
      const res = await call(
        client,
        entry.bytes,
        (b) => ranker.RankResponse.decode(b),
        config.deadlineMs,
      );
      const scores = new Array<number>(entry.rows.length).fill(Number.NaN);
      for (const { id, score } of res.ranked) scores[Number(id)] = score;
      sampled.push({ rows: entry.rows, scores, version: res.version });
    }
    send({ type: 'sample', requests: sampled });
    // The first message of each status, so a report says what the errors were.
    const firstErrors: Record<string, string> = {};
    const result = await runOpenLoop(
      // The answer is not decoded during the run: only its status matters here.
      (i) =>
        call(
          clients[i % clients.length] as Client,
          (pool[i % pool.length] as (typeof pool)[number]).bytes,
          (b) => b,
          config.deadlineMs,
        ).then(
          () => undefined,
          (err: unknown) => {
            const code = errorCodeName(err);
            firstErrors[code] ??= (err as Error).message;
            throw err;
          },
        ),
      {
        ratePerSec: config.ratePerSec,
        durationSec: config.durationSec,
        warmupSec: config.warmupSec,
      },
    );
    send({ type: 'done', result, firstErrors });
  } finally {
    for (const c of clients) c.close();
  }
}

process.once('message', (config: RankerLoadConfig) => {
  run(config).then(
    () => process.disconnect?.(),
    (err: unknown) => {
      send({
        type: 'failed',
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
      process.disconnect?.();
    },
  );
});
