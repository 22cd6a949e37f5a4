// `embpress data synth` then `embpress data prepare` on its output, as real CLI processes.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli-process';

const lastJson = (stdout: string) =>
  JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;

describe('embpress data', () => {
  it('generates synthetic Criteo rows with their Bayes-optimal AUC and prepares them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-data-'));
    try {
      const out = join(dir, 'train.txt');
      const synth = runCli([
        'data',
        'synth',
        '--rows',
        '3000',
        '--seed',
        '7',
        '--out',
        out,
        '--json',
      ]);
      expect((await synth.exit).code).toBe(0);
      const report = lastJson(synth.stdout());
      expect(report).toMatchObject({ rows: 3000, out, fields: 26 });
      expect(report.bayesAuc).toBeGreaterThan(0.5);
      expect(report.bayesAuc).toBeLessThan(1);

      const prepared = join(dir, 'prepared');
      const prep = runCli([
        'data',
        'prepare',
        '--data',
        `criteo:${out}`,
        '--out',
        prepared,
        '--json',
      ]);
      expect((await prep.exit).code).toBe(0);
      expect(existsSync(join(prepared, 'vocabulary.json'))).toBe(true);

      const bad = runCli([
        'data',
        'prepare',
        '--data',
        `criteo:${join(dir, 'missing.txt')}`,
        '--out',
        join(dir, 'p2'),
      ]);
      expect((await bad.exit).code).toBe(1);
      expect(bad.stderr()).toContain('missing.txt');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
