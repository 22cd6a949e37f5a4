import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '@embpress/compression';
import { ModelRegistryDir } from './registry-dir';
import { tableToWrite } from './table-to-write';

describe('tableToWrite', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'embpress-table-to-write-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const int8Table = () => {
    const { method, params } = registry.resolve('rowwise-int8');
    if (method.kind !== 'codec') throw new Error('rowwise-int8 is a codec');
    const data = new Float32Array(12 * 4).map((_, i) => Math.sin(i * 0.3));
    return method.compress(data, { fields: [7, 5], dim: 4 }, params, { seed: 1 });
  };

  it("writes a version whose manifest entry and file are the table's own", () => {
    const table = int8Table();
    const entry = tableToWrite('sparse', table);
    expect(entry).toMatchObject({
      name: 'sparse',
      method: table.method,
      spec: table.spec,
      rows: 12,
      dim: 4,
      memoryBytes: table.memoryBytes(),
    });
    const reg = new ModelRegistryDir(root);
    reg.writeVersion({ model: 'ctr', version: 'v1', tables: [entry] });

    const loaded = reg.readVersion('ctr', 'v1');
    expect(loaded.manifest.tables[0]).toMatchObject({
      name: 'sparse',
      method: 'rowwise-int8',
      spec: table.spec,
      rows: 12,
      dim: 4,
      memoryBytes: table.memoryBytes(),
      fileBytes: table.encode().length,
    });
    const bytes = loaded.tables.get('sparse') as Uint8Array;
    expect(Array.from(bytes)).toEqual(Array.from(table.encode()));
    const read = registry.load(bytes);
    const ids = Uint32Array.of(0, 6, 11);
    const [want, got] = [new Float32Array(12), new Float32Array(12)];
    table.lookup(ids, want);
    read.lookup(ids, got);
    expect(got).toEqual(want);
  });

  it('writes the bytes given instead of the encoded table', () => {
    const table = int8Table();
    const reg = new ModelRegistryDir(root);
    reg.writeVersion({
      model: 'ctr',
      version: 'v1',
      tables: [tableToWrite('sparse', table, Uint8Array.of(1, 2, 3))],
    });
    const loaded = reg.readVersion('ctr', 'v1');
    expect(Array.from(loaded.tables.get('sparse') as Uint8Array)).toEqual([1, 2, 3]);
    expect(loaded.manifest.tables[0]).toMatchObject({ rows: 12, fileBytes: 3 });
  });
});
