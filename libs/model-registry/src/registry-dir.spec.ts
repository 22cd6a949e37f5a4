import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelVersionError } from './errors';
import { ModelRegistryDir, type VersionToWrite } from './registry-dir';

const version = (v: string, bytes = Uint8Array.of(1, 2, 3)): VersionToWrite => ({
  model: 'ctr',
  version: v,
  tables: [
    { name: 'sparse', method: 'full', spec: 'full', rows: 10, dim: 4, memoryBytes: 160, bytes },
  ],
  extra: { architecture: 'dlrm' },
});

describe('ModelRegistryDir', () => {
  let root: string;
  let reg: ModelRegistryDir;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'embpress-registry-'));
    reg = new ModelRegistryDir(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const problem = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ModelVersionError) return err.problem;
      throw err;
    }
    return 'ok';
  };

  it('writes a version atomically and reads it back verified', () => {
    const manifest = reg.writeVersion(version('v1'));
    expect(manifest.tables[0]).toMatchObject({
      name: 'sparse',
      file: 'tables/sparse.emb',
      fileBytes: 3,
    });
    expect(readdirSync(join(root, 'ctr'))).toEqual(['v1']); // no temp directory left behind
    const loaded = reg.readVersion('ctr', 'v1');
    expect(Array.from(loaded.tables.get('sparse') as Uint8Array)).toEqual([1, 2, 3]);
    expect((loaded.manifest as Record<string, unknown>).architecture).toBe('dlrm');
    expect(reg.versions('ctr')).toEqual(['v1']);
    expect(reg.models()).toEqual(['ctr']);
  });

  it('never replaces an existing version', () => {
    reg.writeVersion(version('v1'));
    expect(problem(() => reg.writeVersion(version('v1', Uint8Array.of(9))))).toBe('exists');
    expect(Array.from(reg.readVersion('ctr', 'v1').tables.get('sparse') as Uint8Array)).toEqual([
      1, 2, 3,
    ]);
  });

  it('refuses a flipped byte, a truncated or missing table, and a bad manifest', () => {
    reg.writeVersion(version('v1'));
    const table = join(root, 'ctr', 'v1', 'tables', 'sparse.emb');
    writeFileSync(table, Uint8Array.of(1, 2, 4));
    expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('corrupt');
    writeFileSync(table, Uint8Array.of(1, 2));
    expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('corrupt');
    rmSync(table);
    expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('corrupt');
    reg.writeVersion(version('v2'));
    const manifest = join(root, 'ctr', 'v2', 'manifest.json');
    writeFileSync(
      manifest,
      readFileSync(manifest, 'utf8').replace('tables/sparse.emb', '../../../etc/passwd'),
    );
    expect(problem(() => reg.readVersion('ctr', 'v2'))).toBe('corrupt');
    expect(problem(() => reg.readVersion('ctr', 'v9'))).toBe('not-found');
  });

  it('hashes every extra file in the manifest and refuses a flipped byte in any of them', () => {
    const files = new Map([
      ['dense.weights', Uint8Array.of(9, 8, 7, 6)],
      ['vocabulary.json', new TextEncoder().encode('{"fields":[]}')],
    ]);
    const manifest = reg.writeVersion({ ...version('v1'), files });
    expect(manifest.files?.map((f) => [f.file, f.bytes])).toEqual([
      ['dense.weights', 4],
      ['vocabulary.json', 13],
    ]);
    expect(reg.readVersionFile('ctr', 'v1', 'dense.weights')).toEqual(Uint8Array.of(9, 8, 7, 6));
    expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('ok');
    for (const file of files.keys()) {
      const path = join(root, 'ctr', 'v1', file);
      const good = readFileSync(path);
      const bad = Buffer.from(good);
      bad[1] = (bad[1] as number) ^ 0x10;
      writeFileSync(path, bad);
      expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('corrupt');
      expect(() => reg.readVersionFile('ctr', 'v1', file)).toThrow(`${file} SHA-256 mismatch`);
      writeFileSync(path, good.subarray(0, 2));
      expect(() => reg.readVersionFile('ctr', 'v1', file)).toThrow('has 2 bytes, manifest says');
      writeFileSync(path, good);
    }
    expect(() => reg.readVersionFile('ctr', 'v1', 'other.bin')).toThrow(
      "other.bin is not in the manifest's files",
    );
  });

  it('reads the extra files of a version written before they were hashed', () => {
    reg.writeVersion({ ...version('v1'), files: new Map([['dense.weights', Uint8Array.of(1)]]) });
    const manifestPath = join(root, 'ctr', 'v1', 'manifest.json');
    const legacy = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    delete legacy.files;
    writeFileSync(manifestPath, JSON.stringify(legacy));
    expect(reg.readVersionFile('ctr', 'v1', 'dense.weights')).toEqual(Uint8Array.of(1));
    expect(problem(() => reg.readVersion('ctr', 'v1'))).toBe('ok');
  });

  it('reads each table file once, straight into an exactly sized buffer (docs/adr/0014)', () => {
    // 9 MiB and a bit: more than two read chunks, and a size no pool or rounding produces.
    const big = new Uint8Array(9 * 2 ** 20 + 77);
    for (let i = 0; i < big.length; i += 1) big[i] = (i * 31 + 7) & 0xff;
    const manifest = reg.writeVersion(version('v1', big));
    // Hashed in chunks (one update() takes at most 2^31 - 1 bytes), same digest as in one go.
    expect(manifest.tables[0]?.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    const bytes = reg.readVersion('ctr', 'v1').tables.get('sparse') as Uint8Array;
    // Its own ArrayBuffer at offset 0: the artifact's aligned sections can be views on it.
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(big.length);
    expect(Buffer.compare(bytes, big)).toBe(0);
    const table = join(root, 'ctr', 'v1', 'tables', 'sparse.emb');
    const flipped = Buffer.from(big);
    flipped[big.length - 1] = (flipped[big.length - 1] as number) ^ 1; // in the last chunk
    writeFileSync(table, flipped);
    expect(() => reg.readVersion('ctr', 'v1')).toThrow('tables/sparse.emb SHA-256 mismatch');
    writeFileSync(table, big.subarray(1));
    expect(() => reg.readVersion('ctr', 'v1')).toThrow(
      `has ${big.length - 1} bytes, manifest says ${big.length}`,
    );
    rmSync(table);
    mkdirSync(table);
    expect(() => reg.readVersion('ctr', 'v1')).toThrow('tables/sparse.emb is not a regular file');
  });

  it('refuses names that could escape the root', () => {
    expect(problem(() => reg.readVersion('..', 'v1'))).toBe('invalid-name');
    expect(problem(() => reg.readVersion('ctr', '../x'))).toBe('invalid-name');
    expect(problem(() => reg.path('a/b'))).toBe('invalid-name');
  });

  it('persists the active version pointer atomically', () => {
    reg.writeVersion(version('v1'));
    expect(reg.activeVersion('ctr')).toBeUndefined();
    reg.setActiveVersion('ctr', 'v1');
    expect(new ModelRegistryDir(root).activeVersion('ctr')).toBe('v1');
    expect(readdirSync(join(root, 'ctr')).sort()).toEqual(['active.json', 'v1']);
    writeFileSync(join(root, 'ctr', 'active.json'), '{"version": 3}');
    expect(problem(() => reg.activeVersion('ctr'))).toBe('corrupt');
  });
});
