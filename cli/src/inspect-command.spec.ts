import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactError } from '@embpress/compression';
import { inspectPath, ModelRegistryDir, ModelVersionError } from '@embpress/model-registry';
import { runCli } from './testing/cli-process';
import { publishRowwiseVersion } from './testing/publish';

describe('embpress inspect', () => {
  let dir: string;
  let root: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-inspect-'));
    root = join(dir, 'models');
    publishRowwiseVersion(root, 'v1', 1, { metrics: { testAuc: 0.75 } });
    publishRowwiseVersion(root, 'v2', 2, { metrics: { testAuc: 0.75 } });
    new ModelRegistryDir(root).setActiveVersion('ctr', 'v2');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('describes a model version from its verified files', () => {
    const report = inspectPath(join(root, 'ctr', 'v1'));
    expect(report).toMatchObject({
      kind: 'model-version',
      model: 'ctr',
      version: 'v1',
      memoryBytes: 100 * (8 + 4), // per row: 8 int8 codes + 4 bytes of scale and offset
      fullBytes: 100 * 8 * 4,
      metrics: { testAuc: 0.75 },
      tables: [{ name: 'sparse', method: 'rowwise-int8', rows: 100, dim: 8 }],
    });
  });

  it('lists the versions of a model directory and the active one', () => {
    expect(inspectPath(join(root, 'ctr'))).toMatchObject({
      kind: 'model',
      active: 'v2',
      versions: ['v1', 'v2'],
    });
  });

  it('describes one artifact, sections included', () => {
    const report = inspectPath(join(root, 'ctr', 'v1', 'tables', 'sparse.emb'));
    expect(report.kind).toBe('artifact');
    if (report.kind !== 'artifact') return;
    expect(report.table).toMatchObject({ spec: 'rowwise-int8', rows: 100, dim: 8 });
    expect(report.table.sections.length).toBeGreaterThan(0);
  });

  it('refuses a flipped byte: in a version (SHA-256) and in a bare artifact (section CRC)', () => {
    const file = join(root, 'ctr', 'v1', 'tables', 'sparse.emb');
    const bytes = readFileSync(file);
    const at = bytes.length - 100;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(file, bytes);
    expect(() => inspectPath(join(root, 'ctr', 'v1'))).toThrow(ModelVersionError);
    expect(() => inspectPath(file)).toThrow(ArtifactError);
  });

  it('exits 1 naming the problem, 0 with --json on a good version', async () => {
    const missing = runCli(['inspect', join(dir, 'nope')]);
    expect((await missing.exit).code).toBe(1);
    expect(missing.stderr()).toContain('no such file or directory');
    const good = runCli(['inspect', join(root, 'ctr', 'v2'), '--json']);
    expect((await good.exit).code).toBe(0);
    const last = good.stdout().trim().split('\n').pop() ?? '';
    expect(JSON.parse(last)).toMatchObject({ kind: 'model-version', version: 'v2' });
  });
});
