// Exact latency percentiles: every sample is kept (8 bytes each, so an hour at 1,000 req/s is
// ~29 MB) and sorted once at the end. An HDR histogram bounds memory at the cost of ~1% relative
// error per bucket; at the request counts a load test of one service reaches, exact is affordable
// and leaves nothing to explain.
/**
 * Nearest-rank percentile of ascending `sorted` values: the smallest value with at least q of them
 * ≤ it, for q in (0, 1]; NaN when there are none. The one percentile of the load tests and benches.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export class LatencyRecorder {
  private samples: Float64Array;
  private count = 0;
  private sorted: Float64Array | null = null;

  constructor(expected = 1024) {
    this.samples = new Float64Array(Math.max(16, expected));
  }

  get size(): number {
    return this.count;
  }

  record(ms: number): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count] = ms;
    this.count += 1;
    this.sorted = null;
  }

  /**
   * Nearest-rank percentile (the smallest sample with at least q of all samples ≤ it), for q in
   * (0, 1]; 0 when nothing was recorded.
   */
  percentile(q: number): number {
    if (!(q > 0 && q <= 1)) throw new RangeError(`percentile must be in (0, 1], got ${q}`);
    if (this.count === 0) return 0;
    return percentile(this.sortedSamples(), q);
  }

  max(): number {
    if (this.count === 0) return 0;
    return this.sortedSamples()[this.count - 1] ?? 0;
  }

  private sortedSamples(): Float64Array {
    if (this.sorted === null) this.sorted = this.samples.slice(0, this.count).sort();
    return this.sorted;
  }
}
