// The codecs' bridge to @embpress/kernels (docs/adr/0015-wasm-simd-kernels.md): tables scanned or
// gathered repeatedly are pinned once into the process's kernel memory, searches score a whole
// table (or one IVF list) per kernel call and select with the kernels' top-k.
//
// Pinning is lazy, on the first search or batch decode of a table, not when it is built or loaded:
// a pinned table costs its bytes twice (the artifact's buffer and the kernel copy), and most
// tables a process holds are never searched (the trainer's exports, the store's lookup-only
// tables, whose rows travel as wire codes). A pin lives as long as its table: tables have no
// dispose in CompressedTable, so the pin's FinalizationRegistry frees it once the table (and with
// it the pin) is garbage collected, e.g. after the store's hot swap drops a version.
import { kernels, type Kernels, type PinnedBytes } from '@embpress/kernels';
import type { Metric, SearchHits } from '../core/method';
import type { SearchPlan } from './topk';

/** A table's bytes, pinned in the process's kernels on first use. */
export class LazyPin<T extends ArrayBufferView> {
  private pinned: PinnedBytes | undefined;

  constructor(private readonly data: T) {}

  /** The pinned copy (made on the first call; the same handle afterwards). */
  get(): PinnedBytes {
    this.pinned ??= kernels().pin(this.data);
    return this.pinned;
  }

  /** Frees the kernel copy now (a later get() pins again). */
  dispose(): void {
    this.pinned?.dispose();
    this.pinned = undefined;
  }
}

/** The kernels' name of a search metric. */
export function kernelMetric(metric: Metric): 'ip' | 'l2' {
  return metric === 'l2' ? 'l2' : 'ip';
}

/**
 * Exhaustive top-k with the kernels: `score(query, out)` fills one score per row (kernel
 * semantics: inner product, or squared L2 distance), then the kernels' top-k picks the best (for
 * L2 the smallest distances: the scores are negated first, so ties still go to the lower row).
 * Scores are f32 sums in the kernels' canonical order (libs/kernels/README.md, "Results").
 */
export function exhaustiveSearch(
  k: Kernels,
  rows: number,
  dim: number,
  queries: Float32Array,
  plan: SearchPlan,
  metric: Metric,
  score: (query: Float32Array, out: Float32Array) => void,
): SearchHits {
  const ids = new Uint32Array(plan.queries * plan.k);
  const scores = new Float32Array(plan.queries * plan.k);
  const buffer = new Float32Array(rows);
  const l2 = metric === 'l2';
  for (let q = 0; q < plan.queries; q += 1) {
    score(queries.subarray(q * dim, (q + 1) * dim), buffer);
    if (l2) negate(buffer);
    const best = k.topK(buffer, plan.k);
    const at = q * plan.k;
    ids.set(best.indices, at);
    if (l2) negate(best.scores);
    scores.set(best.scores, at);
  }
  return { ids, scores };
}

/** In place: x ← −x (exact). */
export function negate(values: Float32Array): void {
  for (let i = 0; i < values.length; i += 1) values[i] = -(values[i] as number);
}

/** Batches below this many decoded values stay in JavaScript: a kernel call's fixed cost (argument
 * checks, copies in and out) exceeds the loop's time there, and both give the same bits. */
export const KERNEL_DECODE_MIN_VALUES = 1024;

let iotaCache = new Uint32Array(0);

/** 0, 1, …, count − 1 (a shared, growing buffer: callers must not modify it). */
export function iota(count: number): Uint32Array {
  if (iotaCache.length < count) {
    iotaCache = new Uint32Array(Math.max(count, 2 * iotaCache.length));
    for (let i = 0; i < iotaCache.length; i += 1) iotaCache[i] = i;
  }
  return iotaCache.subarray(0, count);
}
