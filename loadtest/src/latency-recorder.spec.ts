import { LatencyRecorder, percentile } from './latency-recorder';

describe('percentile', () => {
  it('is the nearest rank of ascending values, NaN when there are none', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile(sorted, 1)).toBe(100);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([1, 2, 3], 0.0001)).toBe(1);
    expect(percentile(new Float64Array(0), 0.5)).toBeNaN();
  });

  it('is what a LatencyRecorder reports', () => {
    const recorder = new LatencyRecorder();
    for (const ms of [5, 1, 4, 2, 3]) recorder.record(ms);
    expect(recorder.percentile(0.5)).toBe(percentile([1, 2, 3, 4, 5], 0.5));
    expect(recorder.percentile(0.99)).toBe(5);
  });
});
