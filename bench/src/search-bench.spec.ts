import { exactSearch } from '@embpress/compression';
import { UsageError } from '@embpress/service-kit/config';
import {
  clusteredUnitVectors,
  parseSearchBenchArgs,
  runSearchBench,
  type ReferenceSide,
} from './search-bench';

describe('bench search --vs faiss', () => {
  it('parses its flags with the issue defaults and refuses bad ones', () => {
    const o = parseSearchBenchArgs(['--vs', 'faiss']);
    expect(o).toMatchObject({
      rows: 100_000,
      dim: 384,
      queries: 1000,
      nlist: 1024,
      nprobes: [8, 32, 64],
      k: 10,
      exhaustiveQueries: 200,
      warmup: 200,
      json: false,
    });
    expect(parseSearchBenchArgs(['--help'])).toBe('help');
    expect(
      parseSearchBenchArgs(['--vs', 'faiss', '--rows', '500', '--nlist', '16', '--queries', '20']),
    ).toMatchObject({ rows: 500, nlist: 16, queries: 20, exhaustiveQueries: 20, warmup: 20 });
    expect(() => parseSearchBenchArgs([])).toThrow(UsageError);
    expect(() => parseSearchBenchArgs(['--vs', 'faiss', '--rows', '10', '--nlist', '11'])).toThrow(
      UsageError,
    );
    expect(() => parseSearchBenchArgs(['--vs', 'faiss', '--nprobes', '8,x'])).toThrow(UsageError);
    expect(() => parseSearchBenchArgs(['--vs', 'faiss', '--nope'])).toThrow();
  });

  it('interleaves the two sides block by block and reports the issue JSON shape', async () => {
    const o = parseSearchBenchArgs([
      '--vs',
      'faiss',
      '--rows',
      '600',
      '--dim',
      '8',
      '--queries',
      '12',
      '--clusters',
      '6',
      '--nlist',
      '8',
      '--nprobes',
      '1,8',
      '--k',
      '3',
      '--exhaustive-queries',
      '5',
      '--block',
      '4',
      '--warmup',
      '2',
    ]);
    if (o === 'help') throw new Error('unexpected');
    const data = clusteredUnitVectors(o.rows, o.queries, o.dim, o.clusters, o.seed);
    // A fake reference: the exact top k (float64), so its recall is 1.
    const calls: string[] = [];
    const warmed = new Set<number>();
    const fake: ReferenceSide = {
      build: async () => ({ buildSeconds: 0.5, bytesPerVector: 20, version: 'fake' }),
      search: async (index, nprobe, start, end) => {
        calls.push(`${index}:${nprobe}:${start}-${end}`);
        // The warm-up call (the first of each nprobe) is slow: it must not reach the times.
        const warmup = index === 'ivf' && !warmed.has(nprobe);
        warmed.add(nprobe);
        const hits = exactSearch(
          data.base,
          o.dim,
          data.queries.subarray(start * o.dim, end * o.dim),
          o.k,
          'inner-product',
        );
        return {
          ids: Array.from(hits.ids),
          times: Array.from({ length: end - start }, () => (warmup ? 99 : 1)),
        };
      },
      close: async () => undefined,
    };
    const report = await runSearchBench(o, data, fake, () => undefined);
    expect(calls).toEqual([
      'flat:0:0-4',
      'flat:0:4-5',
      'ivf:1:0-2',
      'ivf:1:0-4',
      'ivf:1:4-8',
      'ivf:1:8-12',
      'ivf:8:0-2',
      'ivf:8:0-4',
      'ivf:8:4-8',
      'ivf:8:8-12',
    ]);
    expect(report.results.map((r) => r.nprobe)).toEqual([1, 8]);
    for (const r of report.results) {
      expect(Object.keys(r).sort()).toEqual(
        ['faissP50Ms', 'faissP99Ms', 'faissRecall', 'nprobe', 'p50Ms', 'p99Ms', 'recall'].sort(),
      );
      expect(r.faissRecall).toBe(1);
      expect(r.faissP50Ms).toBe(1);
      expect(r.faissP99Ms).toBe(1); // the warm-up's 99 ms are not timed
    }
    // nprobe = nlist scans every list: rowwise-int8 codes, nearly exact on separated clusters.
    expect(report.results[1]?.recall).toBeGreaterThanOrEqual(0.9);
    expect(report.exhaustive).toEqual({
      p50Ms: expect.any(Number),
      p99Ms: expect.any(Number),
      faissP50Ms: 1,
      faissP99Ms: 1,
    });
    expect(report.exhaustiveAgreement).toBe(1);
    expect(report).toMatchObject({
      faissBuildSeconds: 0.5,
      faissBytesPerVector: 20,
      spec: 'ivf(nlist=8,nprobe=8,iterations=10,trainPerList=256)|rowwise-int8',
    });
    expect(report.buildSeconds).toBeGreaterThan(0);
    expect(report.bytesPerVector).toBeGreaterThan(12); // 8 codes + 4 (scale, bias) + index
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
