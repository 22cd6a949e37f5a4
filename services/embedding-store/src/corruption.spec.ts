// A corrupt or hostile version is refused by LoadVersion (DATA_LOSS, or INVALID_ARGUMENT for a
// name that escapes the registry root), the refusal is logged, and the serving version is
// untouched: same version, same rows, still the only active one.
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { store } from '@embpress/proto';
import { unaryCall, type RunningService, type UnaryMethod } from '@embpress/service-kit';
import { loadStoreConfig } from './config';
import { startStore } from './main';
import { publishVersion, rowsOf } from './__fixtures__/publish';

type Corruption = {
  name: string;
  /** Publishes `version` of model ctr in its corrupt form. */
  make: (root: string, version: string) => void;
  code: status;
  details: RegExp;
};

const tableFile = (root: string, version: string) =>
  join(root, 'ctr', version, 'tables', 'sparse.emb');

/** A version with the trainer's other files, then one byte of `file` flipped after publishing. */
const flippedVersionFile = (file: string) => (root: string, version: string) => {
  publishVersion(
    root,
    'ctr',
    version,
    7,
    undefined,
    new Map([
      ['dense.weights', Uint8Array.from({ length: 64 }, (_, i) => i)],
      ['vocabulary.json', new TextEncoder().encode('{"fields":["C1","C2"]}')],
    ]),
  );
  const path = join(root, 'ctr', version, file);
  const bytes = readFileSync(path);
  bytes[5] = (bytes[5] as number) ^ 0x02;
  writeFileSync(path, bytes);
};

const CORRUPTIONS: Corruption[] = [
  {
    name: 'a flipped byte in dense.weights',
    make: flippedVersionFile('dense.weights'),
    code: status.DATA_LOSS,
    details: /ctr\/v\d+: dense\.weights SHA-256 mismatch/,
  },
  {
    name: 'a flipped byte in vocabulary.json',
    make: flippedVersionFile('vocabulary.json'),
    code: status.DATA_LOSS,
    details: /ctr\/v\d+: vocabulary\.json SHA-256 mismatch/,
  },
  {
    name: 'a flipped byte (same size)',
    make: (root, version) => {
      publishVersion(root, 'ctr', version, 7);
      const bytes = readFileSync(tableFile(root, version));
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x01;
      writeFileSync(tableFile(root, version), bytes);
    },
    code: status.DATA_LOSS,
    details: /SHA-256 mismatch/,
  },
  {
    name: 'a truncated file',
    make: (root, version) => {
      publishVersion(root, 'ctr', version, 7);
      const bytes = readFileSync(tableFile(root, version));
      writeFileSync(tableFile(root, version), bytes.subarray(0, bytes.length - 16));
    },
    code: status.DATA_LOSS,
    details: /bytes, manifest says/,
  },
  {
    // Checksums match (the manifest was written for the cut bytes): the artifact reader must
    // notice that its last section ends past the end of the file.
    name: 'a truncated section under a matching checksum',
    make: (root, version) => {
      publishVersion(root, 'ctr', version, 7, (bytes) => bytes.subarray(0, bytes.length - 40));
    },
    code: status.DATA_LOSS,
    details: /ctr\/v\d+: /,
  },
  {
    name: 'a missing table file',
    make: (root, version) => {
      publishVersion(root, 'ctr', version, 7);
      rmSync(tableFile(root, version));
    },
    code: status.DATA_LOSS,
    details: /table file tables\/sparse\.emb is missing/,
  },
  {
    name: 'a manifest pointing outside the registry root',
    make: (root, version) => {
      publishVersion(root, 'ctr', version, 7);
      const manifest = join(root, 'ctr', version, 'manifest.json');
      writeFileSync(
        manifest,
        readFileSync(manifest, 'utf8').replace('tables/sparse.emb', '../../../../etc/passwd'),
      );
    },
    code: status.DATA_LOSS,
    details: /table file must be tables\/<name>\.emb/,
  },
];

describe('LoadVersion refuses corrupt versions; the serving version is untouched', () => {
  let root: string;
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;
  const logs: Array<Record<string, unknown>> = [];
  let v1Rows: number[];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-store-corrupt-'));
    v1Rows = rowsOf(publishVersion(root, 'ctr', 'v1', 1), [0, 5, 39]);
    const config = loadStoreConfig({
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_REGISTRY_ROOT: root,
    });
    running = await startStore(
      config,
      pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) }),
    );
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
    await unary(client.loadVersion, { model: 'ctr', version: 'v1' });
    await unary(client.activateVersion, { model: 'ctr', version: 'v1' });
  });
  afterAll(async () => {
    client.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const unary = <Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> =>
    unaryCall(client, method, request, { timeoutMs: 5000 });

  async function expectServingV1(): Promise<void> {
    const res = await unary(client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [0, 5, 39],
      encoding: 0,
      version: '',
    });
    expect(res.version).toBe('v1');
    const data = res.rows?.data as Buffer;
    expect(
      Array.from(
        new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      ),
    ).toEqual(v1Rows);
    const described = await unary(client.describeTables, { model: 'ctr' });
    expect(described.tables.filter((t) => t.active).map((t) => t.version)).toEqual(['v1']);
  }

  CORRUPTIONS.forEach((corruption, i) => {
    it(`${corruption.name}: ${status[corruption.code]}, logged, v1 still serving`, async () => {
      const version = `v${i + 2}`;
      corruption.make(root, version);
      const err = await unary(client.loadVersion, { model: 'ctr', version }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).toBe(corruption.code);
      expect(err?.details).toMatch(corruption.details);
      const logged = logs.find((l) => l.msg === 'version refused' && l.version === version);
      expect(logged).toMatchObject({ level: 50, model: 'ctr', version });
      // Activating the refused version is refused too (it was never loaded).
      const activate = await unary(client.activateVersion, { model: 'ctr', version }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(activate?.code).toBe(status.NOT_FOUND);
      await expectServingV1();
    });
  });

  it('names that would escape the registry root: INVALID_ARGUMENT, v1 still serving', async () => {
    for (const [model, version] of [
      ['..', 'v1'],
      ['ctr', '../../etc'],
      ['ctr/../..', 'v1'],
    ] as const) {
      const err = await unary(client.loadVersion, { model, version }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).toBe(status.INVALID_ARGUMENT);
    }
    await expectServingV1();
  });
});
