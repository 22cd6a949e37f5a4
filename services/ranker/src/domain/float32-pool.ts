// Float32Arrays reused across Rank requests. A Rank's embedding rows (100 candidates × 26 fields ×
// dim 16 = 166 KB) were a new off-heap allocation per request; at a few hundred Ranks/s that
// external memory made V8 start a full mark-compact every half second or so (measured with
// --trace-gc, docs/benchmarks.md "The ranker's request path"), and those pauses were the latency
// tail. A request takes an array of its length and gives it back when its dense forward is done.

export class Float32Pool {
  private readonly free: Float32Array[] = [];

  /** Keeps at most `keep` free arrays (about the Ranks in flight at once). */
  constructor(private readonly keep: number) {}

  /** A free array of exactly `length` floats (contents undefined: the caller overwrites all). */
  acquire(length: number): Float32Array {
    const free = this.free;
    const i = free.findIndex((b) => b.length === length);
    if (i < 0) return new Float32Array(length);
    // Swap-remove, not splice: splice returns a new array, garbage on every Rank.
    const found = free[i] as Float32Array;
    free[i] = free[free.length - 1] as Float32Array;
    free.pop();
    return found;
  }

  /** Gives `array` back; the caller must not use it afterwards. */
  release(array: Float32Array): void {
    if (this.free.length >= this.keep) this.free.shift();
    this.free.push(array);
  }
}
