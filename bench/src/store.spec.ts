// `embpress bench store --vs redis` at a tiny size, end to end: the real CLI starts redis-server,
// the store and the load generator as processes. Needs the Debian redis-server: without it this
// test FAILS with the install hint (it is never skipped).
import { runBench } from './testing/run-bench';
import { BenchSetupError, findRedisServer, type StoreBenchReport } from './store';

const positive = expect.any(Number);

describe('bench store', () => {
  it('compares the store with Redis on the same rows and prints the report as the last line', async () => {
    findRedisServer(); // throws "redis-server not found: apt-get install redis-server"
    const cli = runBench(
      [
        'store',
        '--vs',
        'redis',
        ...['--rows', '5000', '--batch', '64', '--concurrency', '4', '--dim', '8'],
        ...['--seconds', '0.4', '--warmup', '0.1', '--rounds', '2', '--json'],
      ],
      { EMBPRESS_LOG_LEVEL: 'warn' },
    );
    const { code } = await cli.exit;
    expect({ code, stderr: code === 0 ? '' : cli.stderr() }).toEqual({ code: 0, stderr: '' });
    const lines = cli.stdout().trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1] as string) as StoreBenchReport;

    const side = {
      rowsPerSec: positive,
      p50Ms: positive,
      p99Ms: positive,
      bytesPerRow: positive,
      callsPerSec: positive,
      calls: positive,
      cores: { client: positive, server: positive },
    };
    expect(report).toMatchObject({
      benchmark: 'store-vs-redis',
      command: expect.stringContaining('bench store --vs redis'),
      machine: { cpus: positive, node: process.version, redis: expect.any(String) },
      args: {
        rows: 5000,
        dim: 8,
        batch: 64,
        concurrency: 4,
        seconds: 0.4,
        rounds: 2,
        encoding: 'codes',
      },
      store: { ...side, table: 'rowwise-int8', encoding: 'codes' },
      storeFull: { ...side, table: 'full', encoding: 'float32' },
      redis: side,
      ratios: { rowsPerSec: positive, p99: positive, bytesPerRow: positive },
      ratiosFull: { rowsPerSec: positive, p99: positive, bytesPerRow: positive },
      // Both sides returned the same rows: exactly for the full table, within the int8 step.
      check: { ids: 64, fullEqualsRedis: true },
    });
    expect(report.check.int8MaxAbsError).toBeLessThan(0.01);
    // Both sides returned rows: every completed call counted `batch` rows.
    for (const s of [report.store, report.storeFull, report.redis]) {
      expect(s.calls).toBeGreaterThan(0);
      expect(s.p99Ms).toBeGreaterThanOrEqual(s.p50Ms);
    }
    expect(report.ratios.rowsPerSec).toBeCloseTo(
      report.store.rowsPerSec / report.redis.rowsPerSec,
      9,
    );
    expect(report.ratios.p99).toBeCloseTo(report.store.p99Ms / report.redis.p99Ms, 9);
    expect(report.ratios.bytesPerRow).toBeCloseTo(
      report.store.bytesPerRow / report.redis.bytesPerRow,
      9,
    );
    const { storeInt8 } = report.memory;
    expect(report.store.bytesPerRow).toBe(
      (storeInt8.rssAfterBytes - storeInt8.rssBeforeBytes) / 5000,
    );
    expect(storeInt8.tableBytes).toBe(5000 * (8 + 4)); // int8 codes + fp16 scale and bias
    // Load time per GiB of table files, and the peak RSS while loading (docs/adr/0014).
    for (const m of [storeInt8, report.memory.storeFull]) {
      expect(m.fileBytes).toBeGreaterThan(m.tableBytes); // plus the artifact's header
      expect(m.loadSeconds).toBeGreaterThan(0);
      expect(m.loadGiBPerSecond).toBeCloseTo(m.fileBytes / 2 ** 30 / m.loadSeconds, 9);
      expect(m.rssPeakBytes).toBeGreaterThanOrEqual(m.rssBeforeBytes);
    }
    expect(report.redis.bytesPerRow).toBe(
      (report.memory.redis.usedMemoryAfterBytes - report.memory.redis.usedMemoryBeforeBytes) / 5000,
    );
    // Progress went to stderr, not stdout.
    expect(lines).toHaveLength(1);
    expect(cli.stderr()).toMatch(/redis-server .* on 127\.0\.0\.1:\d+/);
  }, 60_000);

  it('exits 2 with the install hint when redis-server is missing', async () => {
    expect(() => findRedisServer('/nonexistent/redis-server')).toThrow(BenchSetupError);
    const cli = runBench(['store', '--redis-server', '/nonexistent/redis-server', '--json']);
    expect((await cli.exit).code).toBe(2);
    expect(cli.stderr()).toContain('redis-server not found: apt-get install redis-server');
    expect(cli.stdout()).toBe('');
  });
});
