import { setupEmbedding } from './embedding-setup';

describe('setupEmbedding with --budget', () => {
  const shape = { fields: [1000, 500, 20], dim: 16 };
  const specAt = (spec: string, budget?: number) =>
    setupEmbedding({
      shape,
      seed: 1,
      log: () => undefined,
      spec,
      budget,
      optimizer: 'adam',
      lr: 1e-3,
    }).spec;

  it("sizes the table from the budget and keeps the spec's other parameters", () => {
    expect(specAt('tt', 0.25)).toBe('tt(rank=11,threshold=0)');
    expect(specAt('tt(init=hetu)', 0.25)).toBe('tt(rank=11,threshold=0,init=hetu)');
    // A solver's whole parameter set does not reset what the spec set to the defaults.
    expect(specAt('qr(aggregator=sum)', 0.25)).toMatch(/^qr\(collisions=\d+,aggregator=sum\)$/);
    expect(specAt('deeplight(warmupParts=2,ramp=0.25)', 0.5)).toMatch(
      /^deeplight\(density=[0-9.]+,format=csr,warmupParts=2,pruneEvery=10,ramp=0.25\)$/,
    );
    // The budget's own parameters still win over the spec's.
    expect(specAt('deeplight(density=0.9)', 0.25)).toBe(specAt('deeplight', 0.25));
  });

  it('lets --budget supersede a budget= inside the spec', () => {
    expect(specAt('hash(budget=0.5)', 0.25)).toBe(specAt('hash', 0.25));
    expect(specAt('hash(budget=0.5)')).toBe('hash(budget=0.5)');
  });
});
