// Hostile and heavy clients against the four services as real processes under `serve all`
// (docs/adr/0012): the probes of service-kit/testing against each service, ids wider than 32
// bits and oversize id lists against the store (RSS bounded, a small lookup still fast), and a
// child killed with SIGKILL makes `serve all` exit non-zero, naming it, with the others stopped.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ModelRegistryDir } from '@embpress/model-registry';
import { store } from '@embpress/proto';
import {
  grpcFrame,
  rawGrpc,
  rawGrpcCall,
  rawSession,
  runHostileProbes,
} from '@embpress/service-kit/testing';
import { isAlive, runCli, waitForOutput, type CliProcess } from '@embpress/cli/testing';
import { publishRowwiseVersion } from '@embpress/cli/testing';

const METHODS = {
  store: '/embpress.store.v1.EmbeddingStoreService/BatchLookup',
  trainer: '/embpress.trainer.v1.TrainerService/GetTraining',
  ranker: '/embpress.ranker.v1.RankerService/Rank',
  retriever: '/embpress.retriever.v1.RetrieverService/Retrieve',
} as const;
type Name = keyof typeof METHODS;
const BATCH_LOOKUP = METHODS.store;

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) * 1024;
}

/** A BatchLookup of table "sparse" of model "ctr" whose ids field holds `ids` as given. */
function batchLookupBytes(packedIds: Buffer): Buffer {
  const name = Buffer.from('sparse');
  const idsField = Buffer.concat([Buffer.from([0x12]), varint(packedIds.length), packedIds]);
  const tableIds = Buffer.concat([Buffer.from([0x0a, name.length]), name, idsField]);
  return Buffer.concat([
    Buffer.from([0x0a, 3]),
    Buffer.from('ctr'),
    Buffer.from([0x12]),
    varint(tableIds.length),
    tableIds,
  ]);
}

function varint(value: number | bigint): Buffer {
  const out: number[] = [];
  let v = BigInt(value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

describe('hostile clients against serve all', () => {
  let dir: string;
  let cli: CliProcess;
  let services: Record<Name, { address: string; pid: number }>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-hostile-'));
    const root = join(dir, 'models');
    publishRowwiseVersion(root, 'v1', 1);
    new ModelRegistryDir(root).setActiveVersion('ctr', 'v1');
    cli = runCli(
      ['serve', 'all'],
      {
        EMBPRESS_STORE_PORT: '0',
        EMBPRESS_TRAINER_PORT: '0',
        EMBPRESS_RANKER_PORT: '0',
        EMBPRESS_RETRIEVER_PORT: '0',
        EMBPRESS_STORE_REGISTRY_ROOT: root,
        EMBPRESS_RANKER_REGISTRY_ROOT: root,
        EMBPRESS_RETRIEVER_REGISTRY_ROOT: root,
        EMBPRESS_SPANS_FILE: join(dir, 'spans.jsonl'),
        EMBPRESS_LOG_FORMAT: 'json',
      },
      { detached: true },
    );
    await waitForOutput(cli, (out) => out.includes('all services SERVING'), 90_000);
    const summary = cli
      .stdout()
      .split('\n')
      .filter((line) => line.includes('all services SERVING'))
      .map((line) => JSON.parse(line) as { services: typeof services })[0];
    if (summary === undefined) throw new Error(`no summary line:\n${cli.stdout()}`);
    services = summary.services;
  }, 120_000);

  afterAll(() => {
    if (cli.child.exitCode === null) process.kill(-(cli.child.pid as number), 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.keys(METHODS) as Name[])(
    '%s answers every hostile probe with a clear status and keeps serving',
    async (name) => {
      const { outcomes, healthAfter } = await runHostileProbes(
        services[name].address,
        METHODS[name],
      );
      const failures = outcomes
        .filter((o) => !o.ok)
        .map(
          (o) =>
            `${o.probe}: ${o.reply.grpcStatus} ${o.reply.grpcMessage} ${o.reply.streamError ?? ''}`,
        );
      expect(failures).toEqual([]);
      expect(healthAfter.grpcStatus).toBe(status.OK);
      expect(isAlive(services[name].pid)).toBe(true);
    },
  );

  it('refuses a store id above 2^32-1 naming the table and the id', async () => {
    const reply = await rawGrpc(services.store.address, {
      path: BATCH_LOOKUP,
      body: grpcFrame(batchLookupBytes(Buffer.concat([varint(3), varint(2n ** 32n + 5n)]))),
    });
    expect(reply.grpcStatus).toBe(status.INVALID_ARGUMENT);
    expect(reply.grpcMessage).toBe(
      'tables[0].ids[1]: id 4294967301 is above 2^32-1 (ids are unsigned 32-bit) for table "sparse"',
    );
  });

  it('keeps the store under 512 MB and a 1-id lookup under 1 s while 40 clients send 5M ids each', async () => {
    const pid = services.store.pid;
    const before = rssBytes(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
    // 5M one-byte ids (5 MB) per request, and 4M (just under the receive limit) per request.
    const huge = grpcFrame(batchLookupBytes(Buffer.alloc(5_000_000, 1)));
    const nearLimit = grpcFrame(batchLookupBytes(Buffer.alloc(4_000_000, 1)));
    const sessions = Array.from({ length: 8 }, () => rawSession(services.store.address));
    try {
      const flood = Array.from({ length: 40 }, (_, i) =>
        rawGrpcCall(sessions[i % sessions.length] as ReturnType<typeof rawSession>, {
          path: BATCH_LOOKUP,
          body: i % 2 === 0 ? huge : nearLimit,
          timeoutMs: 60_000,
        }),
      );
      await new Promise((r) => setTimeout(r, 20));
      const small = grpcFrame(
        Buffer.from(
          store.BatchLookupRequest.encode({
            model: 'ctr',
            tables: [{ table: 'sparse', ids: [7] }],
            encoding: 0,
            version: '',
          }).finish(),
        ),
      );
      const started = performance.now();
      const one = await rawGrpc(services.store.address, {
        path: BATCH_LOOKUP,
        body: small,
        headers: { 'grpc-timeout': '1S' },
      });
      const smallMs = performance.now() - started;
      const replies = await Promise.all(flood);
      clearInterval(sampler);
      expect(one.grpcStatus).toBe(status.OK);
      expect(smallMs).toBeLessThan(1000);
      // Each is refused: by the store (over the receive limit or the id limit), or by Node's
      // HTTP/2 session memory bound (ENHANCE_YOUR_CALM, which grpc clients report as
      // RESOURCE_EXHAUSTED) while the connection already buffers too much.
      const outcomes = new Set(
        replies.map((r) =>
          r.grpcStatus === status.RESOURCE_EXHAUSTED ||
          r.grpcStatus === status.INVALID_ARGUMENT ||
          (r.grpcStatus === undefined && /ENHANCE_YOUR_CALM/.test(r.streamError ?? ''))
            ? 'refused'
            : `${r.grpcStatus} ${r.grpcMessage} ${r.streamError ?? ''}`,
        ),
      );
      expect([...outcomes]).toEqual(['refused']);
      expect(peak).toBeLessThan(512 * 1024 * 1024);
      process.stdout.write(
        `store RSS ${(before / 2 ** 20).toFixed(0)} MiB → peak ${(peak / 2 ** 20).toFixed(0)} MiB under 40 × 5M-id requests; 1-id lookup ${smallMs.toFixed(1)} ms\n`,
      );
    } finally {
      clearInterval(sampler);
      for (const session of sessions) session.close();
    }
    const after = await rawGrpc(services.store.address, {
      path: '/grpc.health.v1.Health/Check',
      body: grpcFrame(Buffer.alloc(0)),
    });
    expect(after.grpcStatus).toBe(status.OK);
  }, 120_000);

  it('exits non-zero within 5 s naming a child killed with SIGKILL, the others stopped', async () => {
    process.kill(services.ranker.pid, 'SIGKILL');
    const started = Date.now();
    const { code } = await cli.exit;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(code).not.toBe(0);
    expect(cli.stdout()).toContain('ranker exited on its own (signal SIGKILL)');
    for (const { pid } of Object.values(services)) expect(isAlive(pid)).toBe(false);
  }, 20_000);
});
