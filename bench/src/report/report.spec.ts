// `embpress report`: the page opened in headless Chromium (Debian's `chromium`, driven by
// playwright-core) draws every plot with its data points and lists every run, offline; the
// Markdown summary names every run; the frontier is the Pareto frontier. Saves a screenshot into
// the test's temp dir (kept, with the page, when EMBPRESS_KEEP_REPORT is set).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { runKey, type RunRecord } from '../experiment/records';
import { reportCommand } from './report-command';
import { paretoFrontier, plotted, rankLatency, runLabel } from './report-model';

function record(
  dataset: string,
  method: string,
  budget: number | null,
  fields: Partial<RunRecord> = {},
): RunRecord {
  return {
    key: runKey(dataset, method, budget, 1),
    data: dataset,
    dataset,
    method,
    budget,
    seed: 1,
    status: 'ok',
    startedAt: '2026-12-07T00:00:00.000Z',
    wallSeconds: 10,
    ...fields,
  };
}

function trained(memoryBytes: number, testAuc: number, parts: number, served: boolean) {
  return {
    spec: 'x',
    testAuc,
    testLogloss: 0.5,
    valAuc: testAuc,
    valLogloss: 0.5,
    memoryBytes,
    fullBytes: 64_000,
    ratio: memoryBytes / 64_000,
    paperWords: memoryBytes / 4,
    trainSeconds: memoryBytes / 4000,
    samplesPerSec: 20_000,
    peakRssBytes: 300e6,
    parts: Array.from({ length: parts }, (_, i) => ({
      stage: '',
      part: i + 1,
      loss: 0.6 - i * 0.02,
      trainAuc: 0.7,
      valAuc: 0.7 + i * 0.01,
      valLogloss: 0.5,
      samplesTrained: (i + 1) * 1000,
      elapsedSeconds: i + 1,
    })),
    serving: served
      ? {
          ratePerSec: 20,
          durationSec: 2,
          candidates: 50,
          achievedRate: 20,
          completed: 40,
          errors: 0,
          dropped: 0,
          rankP50Ms: 3,
          rankP99Ms: 5 + memoryBytes / 10_000,
          storeLookupP99Ms: 1,
          storeBytesPerRow: memoryBytes / 1000,
          breakdown: { total: { count: 40, p50Ms: 3, p99Ms: 5, meanMs: 3.2 } },
        }
      : null,
  };
}

const RUNS: RunRecord[] = [
  record('synthetic', 'full', null, trained(64_000, 0.78, 3, true)),
  record('synthetic', 'hash', 0.25, trained(16_000, 0.76, 3, true)),
  record('synthetic', 'hash', 0.01, trained(640, 0.7, 2, true)),
  // Bigger and worse than hash@0.25: not on the frontier.
  record('synthetic', 'qr', 0.25, trained(17_000, 0.75, 3, false)),
  record('synthetic', 'qr', 0.001, { status: 'unreachable', error: 'BudgetError: too small' }),
  record('synthetic', 'tt', 0.01, { status: 'failed', error: 'Error: boom' }),
  record('criteo:/data/x.txt', 'full', null, trained(128_000, 0.8, 4, false)),
  record('criteo:/data/x.txt', 'int8', 0.25, trained(32_000, 0.79, 4, true)),
  // Served, but every Rank missed its deadline: no latency to plot or print.
  timedOut(record('criteo:/data/x.txt', 'dhe', 0.25, trained(40_000, 0.77, 2, true))),
];

function timedOut(r: RunRecord): RunRecord {
  const s = r.serving as NonNullable<RunRecord['serving']>;
  return {
    ...r,
    serving: { ...s, achievedRate: 0, completed: 0, errors: 40, rankP50Ms: 0, rankP99Ms: 0 },
  };
}

function chromiumPath(): string {
  const path =
    process.env.CHROMIUM_PATH ??
    execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser || true'])
      .toString()
      .trim();
  if (path === '')
    throw new Error(
      'chromium is not installed: apt-get install -y chromium (npm test installs it as root)',
    );
  return path;
}

describe('embpress report', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-report-'));
  });
  afterAll(() =>
    process.env.EMBPRESS_KEEP_REPORT ? undefined : rmSync(dir, { recursive: true, force: true }),
  );

  it('computes the Pareto frontier of test AUC vs memory', () => {
    const synthetic = RUNS.filter((r) => r.dataset === 'synthetic');
    expect(paretoFrontier(synthetic)).toEqual([
      runKey('synthetic', 'hash', 0.01, 1),
      runKey('synthetic', 'hash', 0.25, 1),
      runKey('synthetic', 'full', null, 1),
    ]);
  });

  it('renders a page with every point and every run in headless Chromium', async () => {
    const results = join(dir, 'results.jsonl');
    writeFileSync(results, RUNS.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const out = join(dir, 'report');
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await reportCommand([results, '--out', out]);
    } finally {
      write.mockRestore();
    }
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    for (const r of RUNS) expect(markdown).toContain(runLabel(r));
    // The timed-out run: its Ranks counted, no latency printed.
    expect(markdown).toMatch(/\| dhe@0\.25 [^\n]*\| 0\/40 \| - \| - \|/);

    const browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ['--no-sandbox', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      // Offline: any request off the file itself fails the test.
      const external: string[] = [];
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        external.push(url);
        return route.abort();
      });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(pathToFileURL(join(out, 'index.html')).href);
      await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
      expect(errors).toEqual([]);
      expect(external).toEqual([]);

      const datasets = ['synthetic', 'criteo:/data/x.txt'];
      for (const [i, name] of datasets.entries()) {
        const runs = RUNS.filter((r) => r.dataset === name);
        const expected = {
          pareto: runs.filter(plotted).length,
          serving: runs.filter((r) => plotted(r) && rankLatency(r) !== undefined).length,
          train: runs.filter((r) => r.status === 'ok').length,
          loss: runs.reduce((n, r) => n + (r.parts?.length ?? 0), 0),
        };
        for (const [fig, n] of Object.entries(expected)) {
          const shape = fig === 'train' ? 'rect' : 'circle';
          const drawn = await page.locator(`#${fig}-${i} g.pt ${shape}`).count();
          expect([fig, i, drawn]).toEqual([fig, i, n]);
          expect(await page.getAttribute(`#${fig}-${i}`, 'data-points')).toBe(String(n));
        }
        // The frontier line is drawn.
        expect(await page.locator(`#pareto-${i} svg path`).count()).toBeGreaterThan(0);
      }
      const keys = await page
        .locator('#runs tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
      expect(keys.sort()).toEqual(RUNS.map((r) => r.key).sort());
      expect(await page.locator('#taxonomy tbody tr').count()).toBeGreaterThan(5);
      await expect(page.locator('#environment').count()).resolves.toBe(1);

      // Sorting by test AUC puts the best run first, blanks (unreachable, failed) last.
      await page.click('#runs th:has-text("test AUC")');
      await page.click('#runs th:has-text("test AUC")');
      const firstKey = await page.locator('#runs tbody tr').first().getAttribute('data-key');
      expect(firstKey).toBe(runKey('criteo:/data/x.txt', 'full', null, 1));

      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
