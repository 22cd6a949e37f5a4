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
