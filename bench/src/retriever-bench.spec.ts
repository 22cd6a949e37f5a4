// `embpress bench retrieval` on small generated sets (the MiniLM set is the real one): the
// result rows' shape, recall against the exact scan, and the method-list parsing.
import { benchRetrievalCommand, splitMethods } from './retrieval-bench';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c) => ((stdout += String(c)), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((c) => ((stderr += String(c)), true));
  try {
    await benchRetrievalCommand(args);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout, stderr };
}

describe('embpress bench retrieval', () => {
  it('splits method lists on commas outside parentheses', () => {
    expect(
      splitMethods('fp16, pq(subvectors=64,bits=8),ivf(nlist=8,nprobe=2)|rowwise-int8'),
    ).toEqual(['fp16', 'pq(subvectors=64,bits=8)', 'ivf(nlist=8,nprobe=2)|rowwise-int8']);
  });

  it('prints one row per method (and per nprobe) as the last stdout line', async () => {
    const r = await run([
      '--methods',
      'fp32,fp16,int8,ivf(nlist=16,nprobe=4)|rowwise-int8',
      '--nprobes',
      '2,16',
      '--synthetic-rows',
      '400',
      '--synthetic-queries',
      '20',
      '--clusters',
      '8',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const { results } = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
      results: Array<Record<string, number | string>>;
    };
    expect(results.map((x) => x.method)).toEqual([
      'fp32',
      'fp16',
      'int8',
      'ivf(nlist=16,nprobe=4)|rowwise-int8@nprobe=2',
      'ivf(nlist=16,nprobe=4)|rowwise-int8@nprobe=16',
    ]);
    const [fp32, fp16, int8, , ivfAll] = results as Array<Record<string, number | string>>;
    expect(fp32).toMatchObject({
      recallAt10: 1,
      syntheticRecallAt10: 1,
      bytesPerVector: 1536,
      searchMode: 'decoded',
    });
    expect(fp16).toMatchObject({ bytesPerVector: 768, searchMode: 'codes' });
    expect(fp16?.recallAt10).toBeGreaterThanOrEqual(0.995);
    expect(int8?.recallAt10).toBeGreaterThanOrEqual(0.95);
    // nprobe = every list: the exhaustive rowwise-int8 scan.
    expect(ivfAll?.syntheticRecallAt10).toBeGreaterThanOrEqual(0.9);
    for (const row of results) {
      expect(Number(row.p99Ms)).toBeGreaterThanOrEqual(Number(row.p50Ms));
      expect(Number(row.compressSeconds)).toBeGreaterThanOrEqual(0);
    }
  }, 60_000);

  it('refuses an unknown method', async () => {
    const r = await run(['--methods', 'fp16,nosuch', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown method "nosuch"/);
  });
});
