// LSH block deduplication of a trained table (docs/methods/dedup.md#deduplication): the table is
// cut into blocks of b rows; blocks are visited in ascending order of their 75th-percentile value;
// each is hashed with L2-LSH (one hash per band) and compared element-wise with the blocks already
// inserted that share a band; the most similar one (fraction of values within fp ≥ sim) becomes its
// target. It stops after `tStop` merges. Pure: the caller owns the arrays and the randomness.
import type { Rng } from '../core/rng';

export interface LshSettings {
  /** L: bands, one hash each. */
  bands: number;
  /** r: bucket width of code = ⌈(v·a + β)/r⌉. */
  width: number;
  /** Values within fp of each other count as equal. */
  fp: number;
  /** Smallest fraction of equal values for a merge. */
  sim: number;
  /** Candidates share at least max(1, lshThreshold) bands. */
  lshThreshold: number;
}

export interface DedupInput {
  /** B·b rows × dim, row-major; rows ≥ `rows` are padding (zeros). */
  table: Float32Array;
  /** Real rows n (the padding block, if any, is the last one). */
  rows: number;
  blockRows: number;
  dim: number;
  /** Stop once this many blocks are merged (checked before each block). */
  tStop: number;
  lsh: LshSettings;
  rng: Rng;
}

export interface DedupResult {
  /** Per block: its block in the deduplicated table, < unique. */
  map: Uint32Array;
  unique: number;
  /** Per block: the block it was merged into (processed earlier), or -1. */
  dupOf: Int32Array;
  merges: number;
  /** Blocks in processing order (ascending 75th percentile, ties by index). */
  order: Uint32Array;
}

/** numpy.percentile(values, q) with its default linear interpolation. */
export function percentile(values: Float32Array, q: number): number {
  const s = values.slice().sort();
  const h = (q / 100) * (s.length - 1);
  const lo = Math.floor(h);
  const a = s[lo] as number;
  const b = s[Math.min(lo + 1, s.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

/** Real rows of block k: b, except the last block when n is not a multiple of b. */
function realRows(n: number, b: number, k: number): number {
  return Math.min(b, n - k * b);
}

/**
 * Fraction of the first `len` values of blocks p and q within fp, or -1 as soon as it cannot reach
 * `need` equal values (early abandon: most candidates are far off).
 */
function similarity(
  table: Float32Array,
  p: number,
  q: number,
  len: number,
  fp: number,
  need: number,
): number {
  const maxMiss = len - need;
  let miss = 0;
  for (let i = 0; i < len; i += 1) {
    if (!(Math.abs((table[p + i] as number) - (table[q + i] as number)) <= fp)) {
      miss += 1;
      if (miss > maxMiss) return -1;
    }
  }
  return len - miss;
}

export function lshDedup(input: DedupInput): DedupResult {
  const { table, rows: n, blockRows: b, dim: D, lsh } = input;
  const blockLen = b * D;
  const B = Math.ceil(n / b);
  if (table.length !== B * blockLen)
    throw new RangeError(`dedup: table has ${table.length} values, expected ${B * blockLen}`);
  // Only a block with missing rows is a padding block. (The reference always treats the last
  // block as one and strips `[:-pad]`, an empty slice when pad = 0: docs/methods/dedup.md.)
  const padding = n % b === 0 ? -1 : B - 1;

  const key = new Float64Array(B);
  for (let k = 0; k < B; k += 1)
    key[k] = percentile(table.subarray(k * blockLen, k * blockLen + realRows(n, b, k) * D), 75);
  const order = Uint32Array.from({ length: B }, (_, k) => k).sort(
    (x, y) => (key[x] as number) - (key[y] as number) || x - y,
  );

  // a ~ N(0,1)^{(b·D)×L} (element-major), β ~ U[0, r)^L; drawn in that order.
  const L = lsh.bands;
  const a = new Float32Array(blockLen * L);
  for (let i = 0; i < a.length; i += 1) a[i] = input.rng.normal();
  const beta = Float64Array.from({ length: L }, () => input.rng.uniform(0, lsh.width));

  const buckets = Array.from({ length: L }, () => new Map<number, number[]>());
  const codes = new Float64Array(L);
  const acc = new Float64Array(L);
  const shared = new Int32Array(B);
  const inserted = new Int32Array(B).fill(-1); // insertion position, or -1
  const dupOf = new Int32Array(B).fill(-1);
  const minShared = Math.max(1, lsh.lshThreshold);
  let merges = 0;
  let insertedCount = 0;

  for (const blk of order) {
    if (merges >= input.tStop) break;
    const base = blk * blockLen;
    acc.fill(0);
    for (let i = 0; i < blockLen; i += 1) {
      const v = table[base + i] as number;
      if (v === 0) continue;
      const row = i * L;
      for (let l = 0; l < L; l += 1) acc[l] = (acc[l] as number) + v * (a[row + l] as number);
    }
    for (let l = 0; l < L; l += 1)
      codes[l] = Math.ceil(((acc[l] as number) + (beta[l] as number)) / lsh.width);

    const candidates: number[] = [];
    for (let l = 0; l < L; l += 1) {
      const bucket = (buckets[l] as Map<number, number[]>).get(codes[l] as number);
      if (bucket === undefined) continue;
      for (const c of bucket) {
        if (shared[c] === 0) candidates.push(c);
        shared[c] = (shared[c] as number) + 1;
      }
    }
    const eligible = candidates
      .filter((c) => (shared[c] as number) >= minShared)
      .sort((x, y) => (inserted[x] as number) - (inserted[y] as number));
    for (const c of candidates) shared[c] = 0;

    // Candidates are full blocks (the padding block is never inserted), so the compared length is
    // this block's real rows: all of them when there is no padding.
    const len = realRows(n, b, blk) * D;
    let best = -1;
    let bestEqual = -1;
    for (const c of eligible) {
      const need = Math.max(Math.ceil(lsh.sim * len - 1e-9), bestEqual + 1);
      if (need > len) break;
      const equal = similarity(table, c * blockLen, base, len, lsh.fp, need);
      if (equal < 0) continue;
      best = c;
      bestEqual = equal;
      if (equal === len) break;
    }
    if (best >= 0) {
      dupOf[blk] = best;
      merges += 1;
    }
    if (blk !== padding) {
      for (let l = 0; l < L; l += 1) {
        const m = buckets[l] as Map<number, number[]>;
        const code = codes[l] as number;
        const bucket = m.get(code);
        if (bucket === undefined) m.set(code, [blk]);
        else bucket.push(blk);
      }
      inserted[blk] = insertedCount;
      insertedCount += 1;
    }
  }

  // Unique blocks take the next index in processing order; a duplicate takes its target's (the
  // target was processed earlier, so chains resolve).
  const map = new Uint32Array(B);
  let unique = 0;
  for (const blk of order) {
    const target = dupOf[blk] as number;
    if (target < 0) {
      map[blk] = unique;
      unique += 1;
    } else map[blk] = map[target] as number;
  }
  return { map, unique, dupOf, merges, order };
}

/** The deduplicated table: unique block k holds the rows of the first block mapped to it. */
export function gatherUnique(
  table: Float32Array,
  result: DedupResult,
  blockLen: number,
): Float32Array {
  const out = new Float32Array(result.unique * blockLen);
  for (const blk of result.order) {
    if ((result.dupOf[blk] as number) >= 0) continue;
    const k = result.map[blk] as number;
    out.set(table.subarray(blk * blockLen, (blk + 1) * blockLen), k * blockLen);
  }
  return out;
}
