import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactError, registry } from '@embpress/compression';
import { ModelRegistryDir, ModelVersionError, tableToWrite } from '@embpress/model-registry';
import { publishVersion } from '../__fixtures__/publish';
import { ModelVersions, UnknownModelError } from './model-versions';

const publish = (dir: ModelRegistryDir, version: string, seed: number) =>
  publishVersion(dir.root, 'ctr', version, seed);

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
    const t4 = publish(dir, 'v4', 4);
    const bytes = t4.encode();
    bytes[bytes.length - 70] = (bytes[bytes.length - 70] as number) ^ 0xff;
    const forged = new ModelRegistryDir(join(root, 'forged'));
    forged.writeVersion({
      model: 'ctr',
      version: 'v1',
      tables: [tableToWrite('sparse', t4, bytes)],
    });
    expect(() => new ModelVersions(forged).load('ctr', 'v1')).toThrow(ArtifactError);
    expect(row(versions, 0).version).toBe('v1');
  });

  describe('memory (docs/adr/0014): one copy of each table file, no second one', () => {
    /** Every typed array reachable from `root` (the decoded table's own fields). */
    function typedArrays(root: unknown): ArrayBufferView[] {
      const seen = new Set<unknown>();
      const out: ArrayBufferView[] = [];
      const visit = (value: unknown): void => {
        if (value === null || typeof value !== 'object' || seen.has(value)) return;
        seen.add(value);
        if (ArrayBuffer.isView(value)) out.push(value);
        else if (value instanceof Map) for (const entry of value) visit(entry);
        else for (const key of Object.keys(value)) visit((value as Record<string, unknown>)[key]);
      };
      visit(root);
      return out;
    }

    it('decodes each table as views on the one exactly sized read of its file', () => {
      // A few MB: 60,000 rows × 16, a full (fp32) and a rowwise-int8 table in one version.
      const rows = 60_000;
      const big = { fields: [rows], dim: 16 };
      const data = new Float32Array(rows * big.dim);
      for (let i = 0; i < data.length; i += 1) data[i] = Math.sin(i) * 0.1;
      const tables = ['full', 'rowwise-int8'].map((spec) => {
        const { method, params } = registry.resolve(spec);
        const table =
          method.kind === 'codec'
            ? method.compress(data, big, params, { seed: 1 })
            : registry.loadContent({
                method: 'full',
                spec: 'full',
                params,
                shape: big,
                sections: new Map([['table', data]]),
              });
        return tableToWrite(spec.replace(/[^a-z0-9]/g, '_'), table);
      });
      dir.writeVersion({ model: 'big', version: 'v1', tables });
      const fileBytes = tables.reduce((sum, t) => sum + t.bytes.length, 0);
      const versions = new ModelVersions(dir);
      // No garbage collection in between: a transient second copy (a Buffer read whole, then
      // copied into the buffer the table keeps) would still be counted here.
      const before = process.memoryUsage().arrayBuffers;
      const loaded = versions.load('big', 'v1');
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(grown).toBeLessThan(fileBytes * 1.1 + 2 ** 20);
      for (const entry of loaded.manifest.tables) {
        const table = loaded.tables.get(entry.name);
        const large = typedArrays(table).filter((a) => a.byteLength >= 2 ** 16);
        expect(large.length).toBeGreaterThan(0);
        // One buffer per table: exactly its file (no pool, no copy), and it is what they view.
        const buffers = new Set(large.map((a) => a.buffer));
        expect(buffers.size).toBe(1);
        expect([...buffers][0]?.byteLength).toBe(entry.fileBytes);
        const held = large.reduce((sum, a) => sum + a.byteLength, 0);
        expect(held).toBeGreaterThan(entry.fileBytes * 0.99);
      }
    });
  });
});
