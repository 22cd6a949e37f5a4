import { runCli } from './testing/cli-process';

describe('embpress methods --json', () => {
  it('lists every registered method with its family and taxonomy on the last stdout line', async () => {
    const cli = runCli(['methods', '--json']);
    expect((await cli.exit).code).toBe(0);
    const last = cli.stdout().trim().split('\n').pop() as string;
    const { methods } = JSON.parse(last) as { methods: Array<Record<string, unknown>> };
    const full = methods.find((m) => m.id === 'full');
    expect(full).toMatchObject({
      kind: 'trainable',
      family: 'row-codec',
      scope: 'baseline',
      subClass: 'none',
    });
    // The paper's 18 methods (its keys: compo = qr, md = mde; int8/int16 are its `quantize`
    // with 8 and 16 bits), dpq from its code, and the post-training codecs.
    const ids = methods.map((m) => m.id);
    for (const id of [
      ...['full', 'hash', 'qr', 'tt', 'dhe', 'robe', 'dpq', 'mgqe', 'adapt', 'dedup', 'mde'],
      ...['autodim', 'optembed', 'deeplight', 'pep', 'autosrh', 'int8', 'int16', 'alpt'],
      ...['fp16', 'rowwise-int8', 'rowwise-int4', 'pq', 'prune', 'svd', 'ivf'],
    ])
      expect(ids).toContain(id);
    // Multi-stage methods list their stages as data; frequency-aware ones say so.
    expect(methods.find((m) => m.id === 'pep')).toMatchObject({
      stages: [
        { name: 'search', end: { kind: 'target' }, keep: 'meets-budget' },
        { name: 'retrain', denseStart: 'reinit' },
      ],
    });
    expect(methods.find((m) => m.id === 'autosrh')).toMatchObject({
      usesFrequencies: true,
      stages: [{ name: 'warmup' }, { name: 'search', dense: 'frozen' }, { name: 'retrain' }],
    });
    expect(methods.find((m) => m.id === 'full')).toMatchObject({ stages: [] });
    for (const m of methods) {
      expect(m).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          kind: expect.stringMatching(/^(trainable|codec)$/),
          family: expect.any(String),
          scope: expect.any(String),
        }),
      );
    }
  });
});
