// The matrix of `embpress experiment` and its results file, without training anything.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperimentArgs } from './experiment-command';
import { datasetName, planRuns, QUICK } from './plan';
import { appendRecord, readRecords, RESULTS_FILE, runKey, type RunRecord } from './records';

describe('experiment plan', () => {
  it('crosses datasets, seeds, methods and budgets; full runs once without a budget', () => {
    // A method whose spec fixes its size runs once too (every budget would train the same table).
    expect(planRuns({ ...QUICK, methods: ['rowwise-int8', 'dpq'], seeds: [1] })).toMatchObject([
      { method: 'rowwise-int8', budget: null },
      { method: 'dpq', budget: null },
    ]);
    const runs = planRuns({
      ...QUICK,
      methods: ['full', 'hash'],
      budgets: [0.5, 0.1],
      seeds: [1, 2],
    });
    expect(runs.map((r) => r.key)).toEqual([
      runKey('synthetic', 'full', null, 1),
      runKey('synthetic', 'hash', 0.5, 1),
      runKey('synthetic', 'hash', 0.1, 1),
      runKey('synthetic', 'full', null, 2),
      runKey('synthetic', 'hash', 0.5, 2),
      runKey('synthetic', 'hash', 0.1, 2),
    ]);
    expect(datasetName('criteo:/data/criteo-kaggle-10k/train.txt')).toBe('criteo:train.txt');
  });

  it('parses the options, refuses bad ones before any work', () => {
    const quick = parseExperimentArgs(['--quick', '--out', 'x']);
    expect(quick?.settings.methods).toEqual(QUICK.methods);
    expect(quick?.settings.budgets).toEqual([0.25, 0.01]);
    const custom = parseExperimentArgs([
      '--out',
      'x',
      '--methods',
      'hash,qr',
      '--budgets',
      '0.5,0.001',
      '--no-serve',
      '--batch-size',
      '128',
    ]);
    expect(custom?.settings).toMatchObject({
      methods: ['hash', 'qr'],
      budgets: [0.5, 0.001],
      load: null,
      train: expect.objectContaining({ batchSize: 128 }),
    });
    expect(() => parseExperimentArgs(['--quick'])).toThrow('--out DIR is required');
    expect(() => parseExperimentArgs(['--out', 'x', '--budgets', '0.5,2'])).toThrow(
      '"2" is not a budget in (0, 1]',
    );
    expect(() => parseExperimentArgs(['--out', 'x', '--methods', 'nope'])).toThrow(
      /unknown method "nope"/,
    );
    expect(() => parseExperimentArgs(['--out', 'x', '--data', 'parquet:/x'])).toThrow(
      /--data must be/,
    );
    expect(() => parseExperimentArgs(['--out', 'x', '--data', 'criteo:/no/such/file'])).toThrow(
      /no such file/,
    );
  });
});

describe('results file', () => {
  it('appends whole lines and reads them back; refuses a line that is not a record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-results-'));
    try {
      const record = (method: string): RunRecord => ({
        key: runKey('synthetic', method, 0.1, 1),
        data: 'synthetic',
        dataset: 'synthetic',
        method,
        budget: 0.1,
        seed: 1,
        status: 'unreachable',
        error: 'BudgetError: x',
        startedAt: '2026-12-07T00:00:00Z',
        wallSeconds: 1,
      });
      appendRecord(dir, record('qr'));
      appendRecord(dir, record('tt'));
      const file = join(dir, RESULTS_FILE);
      expect(readRecords(file).map((r) => r.method)).toEqual(['qr', 'tt']);
      expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(3);
      writeFileSync(file, `${readFileSync(file, 'utf8')}{"a":1}\n`);
      expect(() => readRecords(file)).toThrow(/:3: not a run record/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
