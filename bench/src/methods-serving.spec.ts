// Every registered method, trained through the training engine and served (issue #14, "serving
// equals training for each exported model"): `benchMethods` trains a tiny DLRM per method on
// generated Criteo rows, then a real `embpress serve store` and `embpress serve ranker` serve
// every exported version and rank test rows as raw features. The ranked scores must equal the
// trainer's offline test predictions: the store decodes the method's own artifact and the ranker
// maps the features and runs the dense network, independently of the trainer's evaluation path.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '@embpress/compression';
import { generateSynthetic } from '@embpress/data';
import { lazyRequire } from '@embpress/service-kit/config';
import { benchMethods, defaultMethods, type MethodsReport } from './train-bench-methods';

jest.setTimeout(600_000);

describe('every method trains, exports and serves what it trained', () => {
  let dir: string;
  let report: MethodsReport;
  const log: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-methods-serving-'));
    const file = join(dir, 'train.txt');
    await generateSynthetic({ rows: 6000, seed: 3, out: file });
    report = await benchMethods({
      data: `criteo:${file}`,
      // optembed with a 2-generation search (its 10 generations are 200 validation passes; the
      // check here is serving, not the search).
      methods: defaultMethods().map((m) => (m === 'optembed' ? 'optembed(generations=2)' : m)),
      // Every budget-driven method reaches 0.5 on this shape (~7.7k ids × 32: dhe's smallest MLP
      // fits; on fewer ids it does not).
      budget: 0.5,
      epochs: 1,
      batchSize: 256,
      lr: 0.01,
      optimizer: 'adam',
      sparseL2: 0,
      partsPerEpoch: 2,
      earlyStopParts: 2,
      dim: 32,
      modelOverrides: { bottom: [16], top: [16] },
      seed: 5,
      backend: 'wasm',
      workDir: dir,
      serveRows: 300,
      trainer: lazyRequire<typeof import('@embpress/training')>('@embpress/training'),
      log: (line) => log.push(line),
    });
  });

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('trains every trainable method of the registry (and the codec peer) without a failure', () => {
    const trainable = registry
      .list()
      .filter((m) => m.kind === 'trainable')
      .map((m) => m.id);
    expect(trainable.length).toBeGreaterThanOrEqual(19);
    expect({ failures: report.failures, log: report.failures.length > 0 ? log : [] }).toEqual({
      failures: [],
      log: [],
    });
    expect(report.results.map((r) => registry.resolve(r.spec).method.id)).toEqual([
      ...trainable,
      'rowwise-int8',
    ]);
    for (const r of report.results) {
      expect(r.testAuc).toBeGreaterThan(0.5);
      expect(r.memoryBytes).toBeGreaterThan(0);
    }
  });

  it('serves every exported version through a store and a ranker with the trainer’s scores', () => {
    expect(report.serving).not.toBeNull();
    const serving = report.serving ?? [];
    expect(serving.map((s) => s.method)).toEqual(report.results.map((r) => r.spec));
    for (const s of serving) {
      expect({ method: s.method, error: s.error }).toEqual({ method: s.method, error: undefined });
      expect(s.rowsRanked).toBe(300);
      expect({ method: s.method, ok: s.maxScoreDiff <= 1e-5 }).toEqual({
        method: s.method,
        ok: true,
      });
    }
  });
});
