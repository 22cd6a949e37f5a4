import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistryDir } from '@embpress/model-registry';
import { lazyRequire } from '@embpress/service-kit/config';
import { DEMO_CORPUS, DEMO_MODEL, ensureDemoModels } from './demo-models';

const { trainDemoRanker } = lazyRequire<typeof import('@embpress/training')>('@embpress/training');

describe('demo models (the embedded default of npm start)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'embpress-demo-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('trains, exports and activates the demo DLRM; a second start keeps it', async () => {
    const root = join(dir, 'models');
    const lines: string[] = [];
    const { testAuc } = await trainDemoRanker({
      rows: 10_000,
      seed: 1,
      method: 'rowwise-int8',
      arch: 'small',
      registryRoot: root,
      workDir: join(dir, 'work'),
      model: DEMO_MODEL,
      version: 'v1',
      log: (l) => lines.push(l),
    });
    expect(testAuc).toBeGreaterThan(0.5);
    const registry = new ModelRegistryDir(root);
    expect(registry.activeVersion(DEMO_MODEL)).toBe('v1');
    expect(registry.readVersion(DEMO_MODEL, 'v1').manifest.tables[0]).toMatchObject({
      method: 'rowwise-int8',
      dim: 16,
    });

    // Both defaults present: nothing is trained or ingested again.
    registry.setActiveVersion(DEMO_CORPUS, 'v0');
    lines.length = 0;
    await ensureDemoModels(root, join(dir, 'work'), (l) => lines.push(l));
    expect(lines).toEqual([
      `${DEMO_MODEL}: active version v1 kept`,
      `${DEMO_CORPUS}: active version v0 kept`,
    ]);
    expect(registry.versions(DEMO_MODEL)).toEqual(['v1']);

    // Interrupted between export and activation: the verified v1 is activated, not retrained.
    rmSync(join(root, DEMO_MODEL, 'active.json'));
    lines.length = 0;
    await ensureDemoModels(root, join(dir, 'work'), (l) => lines.push(l));
    expect(lines[0]).toBe(`${DEMO_MODEL}: activated the existing version v1`);
    expect(registry.activeVersion(DEMO_MODEL)).toBe('v1');
  });
});
