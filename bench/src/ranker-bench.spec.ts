// `embpress bench ranker` refuses bad arguments before it generates, trains or starts anything,
// and sums the span file into stage times and the ranker's hot-row cache hit ratio.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@embpress/service-kit/config';
import { benchRankerCommand, summarizeSpans } from './ranker-bench';

describe('bench ranker arguments', () => {
  /** The UsageError `args` are refused with (printed as `embpress bench ranker: MESSAGE`, exit 2). */
  const refusal = (args: string[]) =>
    benchRankerCommand(args).then(
      () => undefined,
      (err: unknown) => err,
    );

  it('names the bad option', async () => {
    for (const [args, message] of [
      [['--candidates', '0'], '--candidates must be an integer >= 1, got "0"'],
      [['--rate', 'fast'], '--rate must be a number >= 0.001, got "fast"'],
      [['--arch', 'huge'], '--arch must be one of reference, small, got "huge"'],
      [['--row-cache-bytes', '64MiB'], '--row-cache-bytes must be an integer >= 0, got "64MiB"'],
    ] as const) {
      const err = await refusal([...args]);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(message);
    }
    await expect(benchRankerCommand(['--nope'])).rejects.toThrow(/nope/);
  });
});

describe('bench ranker span summary', () => {
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
  const span = (name: string, ms: number, attributes: Record<string, unknown>, status = 'UNSET') =>
    JSON.stringify({
      name,
      kind: name.startsWith('grpc.') ? 'SERVER' : 'INTERNAL',
      startTimeUnixNano: ns(ms),
      durationMs: 2,
      status: { code: status },
      attributes,
      resource: { 'service.name': 'embpress-ranker' },
    });
  const RANK = 'grpc.embpress.ranker.v1.RankerService/Rank';

  it('sums the cache hits and misses of the measured window only, counts the answered Ranks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-bench-spans-'));
    try {
      const file = join(dir, 'spans.jsonl');
      writeFileSync(
        file,
        [
          span('ranker.store_lookup', 1_000, {
            'embpress.cache.hits': 0,
            'embpress.cache.misses': 90,
          }),
          span('ranker.store_lookup', 2_000, {
            'embpress.cache.hits': 80,
            'embpress.cache.misses': 20,
          }),
          span('ranker.store_lookup', 2_001, {
            'embpress.cache.hits': 95,
            'embpress.cache.misses': 5,
          }),
          span('ranker.dense_forward', 2_002, {}),
          span(RANK, 900, {}),
          span(RANK, 1_000, {}),
          span(RANK, 2_000, {}, 'ERROR'),
          span(RANK, 2_001, {}),
          '',
        ].join('\n'),
      );
      const summary = summarizeSpans(file, 1_500, 1_000);
      expect(summary.cache).toEqual({ hits: 175, misses: 25, spans: 2 });
      // From 1,000 ms on, without the failed one.
      expect(summary.answered).toBe(2);
      expect(summary.stages['ranker.Rank (server)']?.count).toBe(2);
      expect(summary.stages['ranker.store_lookup']?.count).toBe(2);
      expect(summary.stages['ranker.dense_forward']?.count).toBe(1);

      writeFileSync(file, `${span('ranker.store_lookup', 2_000, { 'embpress.ids': 10 })}\n`);
      expect(summarizeSpans(file, 0).cache).toEqual({ hits: 0, misses: 0, spans: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
