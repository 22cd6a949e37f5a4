// Watch mode: the store follows <root>/<model>/active.json — a new version behind a changed
// pointer is verified, loaded and activated; a corrupt one is refused and logged while the current
// version keeps serving. Through fs.watch (the store as started with EMBPRESS_STORE_WATCH) and
// through polling alone (the fallback).
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { store } from '@embpress/proto';
import { ModelRegistryDir } from '@embpress/model-registry';
import type { RunningService } from '@embpress/service-kit';
import { loadStoreConfig } from './config';
import { startStore } from './main';
import { ModelVersions } from './domain/model-versions';
import { RegistryWatcher, type WatchEvent } from './domain/registry-watcher';
import { publishVersion, rowsOf } from './__fixtures__/publish';

/** Polls `check` until it returns a value (no fixed sleeps: the machine may be slow). */
async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function rowsOfResponse(res: store.LookupResponse | ServiceError): number[] {
  if (!('rows' in res) || res.rows === undefined)
    throw new Error(`no rows: ${JSON.stringify(res)}`);
  const data = res.rows.data;
  return Array.from(
    new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  );
}

/** Flips one byte in the middle of a version's table file: same size, wrong SHA-256. */
function flipByte(root: string, model: string, version: string): void {
  const file = join(root, model, version, 'tables', 'sparse.emb');
  const bytes = readFileSync(file);
  const at = bytes.length >> 1;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(file, bytes);
}

describe('store watch mode (EMBPRESS_STORE_WATCH=true)', () => {
  let root: string;
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-store-watch-'));
    const config = loadStoreConfig({
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_REGISTRY_ROOT: root,
      EMBPRESS_STORE_WATCH: 'true',
      // Long: the changes below must be seen through fs.watch, not by the poll.
      EMBPRESS_STORE_WATCH_INTERVAL_MS: '600000',
    });
    expect(config.watch).toBe(true);
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => logs.push(JSON.parse(line)) },
    );
    running = await startStore(config, logger);
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const lookup = (ids: number[]) =>
    new Promise<store.LookupResponse | ServiceError>((resolve) =>
      client.lookup(
        { model: 'ctr', table: 'sparse', ids, encoding: 0, version: '' },
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err, res) => resolve(err ?? res),
      ),
    );
  const servedVersion = async (): Promise<string | undefined> => {
    const res = await lookup([0]);
    return 'version' in res ? res.version : undefined;
  };

  it('activates a version when its pointer is written, then the next one; refuses a corrupt one', async () => {
    const dir = new ModelRegistryDir(root);
    // A model that did not exist when the store started: the root's watch sees its directory.
    const v1 = publishVersion(root, 'ctr', 'v1', 1);
    dir.setActiveVersion('ctr', 'v1');
    const serving = (want: string) => async () =>
      (await servedVersion()) === want ? true : undefined;
    await eventually(serving('v1'), 'v1 served');
    expect(rowsOfResponse(await lookup([3, 29]))).toEqual(rowsOf(v1, [3, 29]));

    const v2 = publishVersion(root, 'ctr', 'v2', 2);
    dir.setActiveVersion('ctr', 'v2');
    await eventually(serving('v2'), 'v2 served');
    expect(rowsOfResponse(await lookup([3]))).toEqual(rowsOf(v2, [3]));

    publishVersion(root, 'ctr', 'v3', 3);
    flipByte(root, 'ctr', 'v3');
    dir.setActiveVersion('ctr', 'v3');
    const refused = await eventually(
      () => logs.find((l) => l.msg === 'watch: version refused; the current version keeps serving'),
      'the refusal logged',
    );
    expect(refused).toMatchObject({ level: 50, model: 'ctr', version: 'v3', serving: 'v2' });
    expect(JSON.stringify(refused.err)).toMatch(/SHA-256 mismatch/);
    expect(await servedVersion()).toBe('v2');
    // The pointer was not rewritten by the store: it still says what the operator wrote.
    expect(dir.activeVersion('ctr')).toBe('v3');
  });
});

describe('RegistryWatcher, polling only (the fallback)', () => {
  it('follows pointers by polling; refuses a truncated or missing table once; a bad pointer changes nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'embpress-store-poll-'));
    try {
      const dir = new ModelRegistryDir(root);
      const versions = new ModelVersions(dir);
      const events: WatchEvent[] = [];
      const watcher = new RegistryWatcher(
        dir,
        versions,
        pino({ level: 'silent' }),
        { intervalMs: 10, useFsWatch: false },
        (event) => events.push(event),
      );
      watcher.start();
      try {
        publishVersion(root, 'ctr', 'v1', 1);
        dir.setActiveVersion('ctr', 'v1');
        await eventually(() => (versions.activeVersion('ctr') === 'v1' ? true : undefined), 'v1');

        publishVersion(root, 'ctr', 'v2', 2);
        const file = join(root, 'ctr', 'v2', 'tables', 'sparse.emb');
        writeFileSync(file, readFileSync(file).subarray(0, 100)); // truncated
        dir.setActiveVersion('ctr', 'v2');
        await eventually(
          () => events.find((e) => e.kind === 'refused' && e.version === 'v2'),
          'v2 refused',
        );

        publishVersion(root, 'ctr', 'v3', 3);
        rmSync(join(root, 'ctr', 'v3', 'tables', 'sparse.emb')); // missing
        dir.setActiveVersion('ctr', 'v3');
        await eventually(
          () => events.find((e) => e.kind === 'refused' && e.version === 'v3'),
          'v3 refused',
        );

        writeFileSync(join(root, 'ctr', 'active.json'), '{"version": 7}');
        await eventually(() => events.find((e) => e.kind === 'bad-pointer'), 'bad pointer');
        // Many polls later: each problem was reported once, and v1 still serves.
        const polls = events.length;
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(events.length).toBe(polls);
        expect(events.map((e) => e.kind)).toEqual([
          'activated',
          'refused',
          'refused',
          'bad-pointer',
        ]);
        expect(versions.activeVersion('ctr')).toBe('v1');

        publishVersion(root, 'ctr', 'v4', 4);
        dir.setActiveVersion('ctr', 'v4');
        await eventually(() => (versions.activeVersion('ctr') === 'v4' ? true : undefined), 'v4');
        expect(events.at(-1)).toMatchObject({ kind: 'activated', version: 'v4', previous: 'v1' });
      } finally {
        watcher.stop();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
