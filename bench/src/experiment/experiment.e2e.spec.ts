// `embpress experiment` end to end, the --quick path made smaller: the CLI trains each run in its
// own process, serves it through a real store + ranker under open-loop load, appends results and
// writes the report. Killed with SIGKILL (the whole process group) after its first finished run,
// rerun: the finished run is not redone and the final file holds each run once. The spans the
// serving wrote are summarized into the per-request breakdown (traces summarize on real spans).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSpans } from '../traces/span-file';
import { summarizeTraces } from '../traces/summarize';
import { readRecords, runKey } from './records';

const MAIN = join(__dirname, '..', '..', '..', 'cli', 'src', 'main.ts');

function experiment(dir: string): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn(
    process.execPath,
    [
      '--require',
      require.resolve('tsx/cjs'),
      MAIN,
      'experiment',
      '--out',
      dir,
      '--methods',
      'full,hash,qr',
      '--budgets',
      '0.01',
      '--rows',
      '10000',
      '--epochs',
      '1',
      '--rate',
      '10',
      '--duration',
      '1.5',
    ],
    // Its own process group: the kill below takes the trainer and the services with it.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.on('data', () => undefined);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  return { child, done };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('embpress experiment (e2e)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-experiment-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the matrix, survives kill -9, resumes without redoing finished runs, reports', async () => {
    const results = join(dir, 'results.jsonl');
    const first = experiment(dir);
    try {
      await waitFor(() => existsSync(results) && readRecords(results).length >= 1, 90_000);
    } finally {
      if (first.child.pid !== undefined && first.child.exitCode === null)
        process.kill(-first.child.pid, 'SIGKILL');
    }
    await first.done;
    const before = readRecords(results);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(3);

    const second = await experiment(dir).done;
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`resuming: ${before.length} of 3 runs already in`);
    const records = readRecords(results);
    expect(records.map((r) => r.key).sort()).toEqual(
      [
        runKey('synthetic', 'full', null, 1),
        runKey('synthetic', 'hash', 0.01, 1),
        runKey('synthetic', 'qr', 0.01, 1),
      ].sort(),
    );
    // The run finished before the kill is the same record, not a rerun.
    for (const r of before) expect(records.find((x) => x.key === r.key)).toEqual(r);

    const byMethod = Object.fromEntries(records.map((r) => [r.method, r]));
    expect(byMethod.qr).toMatchObject({ status: 'unreachable' });
    expect(byMethod.qr?.error).toMatch(/^BudgetError: /);
    for (const m of ['full', 'hash']) {
      const r = byMethod[m];
      expect(r?.status).toBe('ok');
      // 10k rows, one epoch: too little to learn much; the numbers must be real AUCs.
      expect(r?.testAuc).toBeGreaterThan(0);
      expect(r?.testAuc).toBeLessThan(1);
      expect(r?.peakRssBytes).toBeGreaterThan(50e6);
      expect(r?.parts?.length).toBeGreaterThan(0);
      expect(r?.paperWords).toBeGreaterThan(0);
      expect(r?.servingError).toBeUndefined();
      expect(r?.serving?.completed).toBeGreaterThan(0);
      expect(r?.serving?.rankP99Ms).toBeGreaterThan(0);
      expect(r?.serving?.storeLookupP99Ms).toBeGreaterThan(0);
      expect(r?.serving?.storeBytesPerRow).toBeGreaterThan(0);
      expect(r?.serving?.breakdown['dense forward']?.count).toBeGreaterThan(0);
    }
    expect(byMethod.hash?.memoryBytes).toBeLessThanOrEqual(0.01 * (byMethod.hash?.fullBytes ?? 0));

    const report = readFileSync(join(dir, 'report', 'report.md'), 'utf8');
    expect(report).toContain('hash@0.01');
    expect(existsSync(join(dir, 'report', 'index.html'))).toBe(true);

    // traces summarize on the spans a real store + ranker wrote under load.
    const work = readdirSync(join(dir, 'work')).find((d) => d.includes('hash'));
    const spans = readSpans(join(dir, 'work', work as string, 'serving', 'spans.jsonl'));
    const rank = summarizeTraces(spans).operations.find((o) => o.operation === 'Rank');
    expect(rank?.requests).toBeGreaterThan(5);
    for (const c of [
      'feature mapping',
      'store lookup',
      'decode',
      'dense forward',
      'store LookupStream:BatchLookup client',
      'store LookupStream:BatchLookup server',
      'store LookupStream:BatchLookup network/queue gap',
    ])
      expect([c, rank?.components[c]?.count ?? 0]).toEqual([c, expect.any(Number)]);
    expect(rank?.components['store LookupStream:BatchLookup server']?.count).toBeGreaterThan(5);
  }, 150_000);
});
