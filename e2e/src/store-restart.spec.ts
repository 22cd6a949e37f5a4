// The store as a real process: activate version 2 over gRPC, kill -9 it, start it again: it serves
// version 2 with identical rows (the persisted active pointer), and its Lookup spans carry the
// lookup's attributes.
import { credentials, Metadata } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { store } from '@embpress/proto';
import { readyPort, runCli } from '@embpress/cli/testing';
import { publishRowwiseVersion } from '@embpress/cli/testing';

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: Error | null, res: Res) => void,
) => unknown;

function call<Req, Res>(
  client: store.EmbeddingStoreServiceClient,
  method: Unary<Req, Res>,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

describe('store restart', () => {
  it('serves the activated version with identical rows after kill -9, and traces lookups', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-restart-'));
    const root = join(dir, 'models');
    const spans = join(dir, 'spans.jsonl');
    publishRowwiseVersion(root, 'v1', 1);
    publishRowwiseVersion(root, 'v2', 2);
    const env = {
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_REGISTRY_ROOT: root,
      EMBPRESS_SPANS_FILE: spans,
      EMBPRESS_LOG_LEVEL: 'warn',
    };
    const lookup = { model: 'ctr', table: 'sparse', ids: [5, 99, 5], encoding: 0, version: '' };
    try {
      const first = runCli(['serve', 'store'], env);
      let client = new store.EmbeddingStoreServiceClient(
        `127.0.0.1:${await readyPort(first)}`,
        credentials.createInsecure(),
      );
      for (const version of ['v1', 'v2']) {
        await call(client, client.loadVersion, { model: 'ctr', version });
        await call(client, client.activateVersion, { model: 'ctr', version });
      }
      const before = await call(client, client.lookup, lookup);
      expect(before.version).toBe('v2');
      client.close();
      first.child.kill('SIGKILL');
      await first.exit;

      const second = runCli(['serve', 'store'], env);
      client = new store.EmbeddingStoreServiceClient(
        `127.0.0.1:${await readyPort(second)}`,
        credentials.createInsecure(),
      );
      const after = await call(client, client.lookup, lookup);
      client.close();
      expect(after.version).toBe('v2');
      expect(Buffer.compare(after.rows?.data as Buffer, before.rows?.data as Buffer)).toBe(0);
      second.child.kill('SIGTERM');
      expect((await second.exit).code).toBe(0);

      const lines = readFileSync(spans, 'utf8')
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as { kind: string; name: string; attributes: Record<string, unknown> },
        );
      const span = lines
        .filter((s) => s.kind === 'SERVER' && s.name.endsWith('EmbeddingStoreService/Lookup'))
        .pop();
      expect(span?.attributes).toMatchObject({
        'embpress.model': 'ctr',
        'embpress.version': 'v2',
        'embpress.table': 'sparse',
        'embpress.method': 'rowwise-int8',
        'embpress.ids': 3,
        'embpress.unique_ids': 2,
        'embpress.bytes_out': 3 * 8 * 4,
        'embpress.decode_us': expect.any(Number),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
