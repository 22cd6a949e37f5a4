import { benchCodecs, scaledCriteoShape } from './codecs';

describe('bench codecs', () => {
  it('measures every requested method against the plain-gather reference in one run', () => {
    const report = benchCodecs({
      rows: 5000,
      dim: 8,
      batch: 256,
      seconds: 0.02,
      methods: ['full', 'nope'],
      seed: 1,
      log: () => undefined,
    });
    expect(report.shape).toEqual({ rows: expect.any(Number), dim: 8, fields: 26 });
    expect(report.references.plainGather.uniformRowsPerSec).toBeGreaterThan(0);
    const full = report.results.find((r) => r.method === 'full');
    expect(full).toMatchObject({ spec: 'full', kind: 'trainable', bytesPerRow: 32 });
    expect(full?.uniform?.rowsPerSec).toBeGreaterThan(0);
    expect(full?.uniform?.ratioToPlainGather).toBeCloseTo(
      (full?.uniform?.rowsPerSec ?? 0) / report.references.plainGather.uniformRowsPerSec,
      6,
    );
    expect(report.results.find((r) => r.method === 'nope')?.error).toMatch(/unknown method "nope"/);
  });

  it('scales the Criteo field profile to the requested rows', () => {
    const shape = scaledCriteoShape(1_000_000, 16);
    expect(shape.fields).toHaveLength(26);
    expect(Math.abs(shape.fields.reduce((a, b) => a + b, 0) - 1_000_000)).toBeLessThan(100);
  });
});
