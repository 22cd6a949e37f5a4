import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactError, registry, SparseOptimizer } from '@embpress/compression';
import { ModelRegistryDir, ModelVersionError } from '@embpress/model-registry';
import { ModelVersions, UnknownModelError } from './model-versions';

const shape = { fields: [20, 5], dim: 4 };

function publish(dir: ModelRegistryDir, version: string, seed: number) {
  const { method, params } = registry.resolve('full');
  if (method.kind !== 'trainable') throw new Error('unexpected');
  const table = method
    .createTrainable(shape, params, {
      seed,
      optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
    })
    .toTable();
  dir.writeVersion({
    model: 'ctr',
    version,
    tables: [
      {
        name: 'sparse',
        method: table.method,
        spec: table.spec,
        rows: table.rows,
        dim: table.dim,
        memoryBytes: table.memoryBytes(),
        bytes: table.encode(),
      },
    ],
  });
  return table;
}

const row = (versions: ModelVersions, id: number) => {
  const lease = versions.acquire('ctr');
  const out = new Float32Array(4);
  lease.version.tables.get('sparse')?.lookup(Uint32Array.of(id), out);
  lease.release();
  return { version: lease.version.version, row: Array.from(out) };
};

describe('ModelVersions', () => {
  let root: string;
  let dir: ModelRegistryDir;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'embpress-store-'));
    dir = new ModelRegistryDir(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('loads, activates and serves one version; activation persists across restarts', () => {
    const t1 = publish(dir, 'v1', 1);
    const t2 = publish(dir, 'v2', 2);
    const versions = new ModelVersions(dir);
    expect(() => versions.acquire('ctr')).toThrow(UnknownModelError);
    versions.load('ctr', 'v1');
    expect(versions.activate('ctr', 'v1')).toBeUndefined();
    const expected = (t: typeof t1) => {
      const out = new Float32Array(4);
      t.lookup(Uint32Array.of(3), out);
      return Array.from(out);
    };
    expect(row(versions, 3)).toEqual({ version: 'v1', row: expected(t1) });
    versions.load('ctr', 'v2');
    expect(versions.activate('ctr', 'v2')).toBe('v1');
    expect(row(versions, 3)).toEqual({ version: 'v2', row: expected(t2) });

    const restarted = new ModelVersions(new ModelRegistryDir(root));
    expect(restarted.restore()).toEqual({
      restored: [{ model: 'ctr', version: 'v2' }],
      failed: [],
    });
    expect(row(restarted, 3)).toEqual({ version: 'v2', row: expected(t2) });
  });

  it("restarts on the pointer's previous version when the active one no longer verifies", () => {
    const t1 = publish(dir, 'v1', 1);
    publish(dir, 'v2', 2);
    dir.setActiveVersion('ctr', 'v1');
    dir.setActiveVersion('ctr', 'v2'); // previous: v1
    dir.setActiveVersion('ctr', 'v2'); // re-pointing keeps previous
    expect(dir.previousVersion('ctr')).toBe('v1');
    // v2 is damaged on disk (e.g. published while a watching store refused it).
    writeFileSync(join(root, 'ctr', 'v2', 'tables', 'sparse.emb'), 'not an artifact');
    const restarted = new ModelVersions(new ModelRegistryDir(root));
    const { restored, failed } = restarted.restore();
    expect(restored).toEqual([{ model: 'ctr', version: 'v1', fallback: true }]);
    expect(failed).toMatchObject([{ model: 'ctr', version: 'v2' }]);
    const out = new Float32Array(4);
    t1.lookup(Uint32Array.of(3), out);
    expect(row(restarted, 3)).toEqual({ version: 'v1', row: Array.from(out) });
  });

  it('keeps a replaced version until the requests holding it are done', () => {
    publish(dir, 'v1', 1);
    publish(dir, 'v2', 2);
    const versions = new ModelVersions(dir);
    versions.load('ctr', 'v1');
    versions.activate('ctr', 'v1');
    const inFlight = versions.acquire('ctr');
    versions.load('ctr', 'v2');
    versions.activate('ctr', 'v2');
    expect(versions.list('ctr').map((v) => [v.loaded.version, v.active])).toEqual([
      ['v1', false],
      ['v2', true],
    ]);
    inFlight.release();
    inFlight.release(); // idempotent
    expect(versions.list('ctr').map((v) => v.loaded.version)).toEqual(['v2']);
  });

  it('refuses a corrupt version and keeps serving the current one', () => {
    publish(dir, 'v1', 1);
    publish(dir, 'v2', 2);
    publish(dir, 'v3', 3);
    const versions = new ModelVersions(dir);
    versions.load('ctr', 'v1');
    versions.activate('ctr', 'v1');
    writeFileSync(join(root, 'ctr', 'v2', 'tables', 'sparse.emb'), 'garbage');
    expect(() => versions.load('ctr', 'v2')).toThrow(ModelVersionError);
    expect(() => versions.activate('ctr', 'v2')).toThrow(UnknownModelError);
    // A file whose manifest checksum was forged still fails the artifact's own CRCs.
    const bytes = publish(dir, 'v4', 4).encode();
    bytes[bytes.length - 70] = (bytes[bytes.length - 70] as number) ^ 0xff;
    const forged = new ModelRegistryDir(join(root, 'forged'));
    forged.writeVersion({
      model: 'ctr',
      version: 'v1',
      tables: [
        { name: 'sparse', method: 'full', spec: 'full', rows: 25, dim: 4, memoryBytes: 400, bytes },
      ],
    });
    expect(() => new ModelVersions(forged).load('ctr', 'v1')).toThrow(ArtifactError);
    expect(row(versions, 0).version).toBe('v1');
  });
});
