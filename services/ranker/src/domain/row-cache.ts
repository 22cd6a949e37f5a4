// The ranker's hot-row cache (issue #11 item 4; the HugeCTR HPS idea of a local cache in front of
// the parameter store): decoded fp32 rows kept in one preallocated arena, bounded in bytes
// (EMBPRESS_RANKER_ROW_CACHE_BYTES), so that only the rows a Rank has not seen recently are asked
// of the store.
//
// - Keys are (namespace, id), a namespace being one (model, version, table). The rows of a version
//   never change (docs/adr/0006: a version directory is immutable once written), so a cached row
//   is valid for as long as that version is asked for; a request pins one version, so it never
//   mixes versions, and the rows of a version no longer served are never asked for again and age
//   out like any cold row.
// - Storage: one Uint32Array of `capacity` slot records, each [id, namespace, last-probe stamp,
//   frequency, then the row's `stride` words] (the widest row seen; a wider table empties the
//   cache once and re-lays it out), and an open-addressing index (linear probing, load <= 1/2,
//   backward-shift deletion). The index grows with the rows held (doubling, up to the layout's
//   size): a table of 30k rows under a 64 MiB budget probes a 256 KB index that stays in the
//   core's cache, not an 8 MB one spread over memory. A hit touches the index and one record
//   (2-3 cache lines) rather than six arrays (the keys and counters apart from the rows cost ~2x
//   per probe). No JS object per row: the garbage collector never walks the cache.
// - Eviction: CLOCK with a 2-bit frequency per slot (new rows enter at 0, each hit adds one up to
//   3, the hand takes one off as it passes and evicts at 0). A row read once (a scan, a cold tail
//   id) is the first to go, while a Zipf head row survives three sweeps without a hit. O(1)
//   amortized: each decrement is paid for by an earlier hit.
// - Rows are copied as 32-bit words (a Uint32Array view), so what comes out is bit for bit what
//   went in (a NaN payload included).
// - Rows of a failed (degraded) lookup are never inserted: the caller decides what is cacheable.

/** Words of a slot record before its row: id, namespace, last-probe stamp, frequency. */
const HEADER_WORDS = 4;
const SLOT_OVERHEAD_BYTES = HEADER_WORDS * 4;
/** Bytes per index bucket (the slot number + 1, 0 = empty). */
const BUCKET_BYTES = 4;
const MAX_FREQUENCY = 3;
/** Namespaces interned before the cache starts over (versions churning for a long time). */
const MAX_NAMESPACES = 4096;
/** Index buckets before the first rows (doubled as rows come in). */
const INITIAL_BUCKETS = 1024;
/** Entries of the probe's dedup set kept between probes (12 B each: 3 MiB). */
const MAX_KEPT_SCRATCH = 1 << 18;

/** One (model, version, table) as the cache knows it. */
export interface RowCacheNamespace {
  readonly id: number;
  readonly dim: number;
}

/** What a probe found for the ids of one request. */
export interface RowProbe {
  /** Distinct ids whose rows came from the cache. */
  hits: number;
  /** Distinct ids to ask the store for, in first-seen order (`missing.length`). */
  misses: number;
  missing: Uint32Array;
  /** For each requested position: its index in `missing`, or -1 when the cache filled it. */
  missingAt: Int32Array;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Mixes (namespace, id) into 32 bits (murmur3's finalizer). */
function hash(ns: number, id: number): number {
  let h = (id ^ Math.imul(ns, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Copies `n` 32-bit words (a plain loop: cheaper than a subarray + set for rows of a few dozen). */
function copyWords(
  from: Uint32Array,
  fromAt: number,
  to: Uint32Array,
  toAt: number,
  n: number,
): void {
  for (let j = 0; j < n; j += 1) to[toAt + j] = from[fromAt + j] as number;
}

/**
 * The most slots of `stride` floats, with their bookkeeping and a power-of-two index at most half
 * full, that fit in `budget` bytes, and the index size that goes with it.
 */
export function rowCacheLayout(
  budget: number,
  stride: number,
): { capacity: number; buckets: number; bytes: number } {
  const perSlot = stride * 4 + SLOT_OVERHEAD_BYTES;
  let best = { capacity: 0, buckets: 0, bytes: 0 };
  for (let buckets = 2; buckets * BUCKET_BYTES < budget; buckets *= 2) {
    const capacity = Math.min(buckets / 2, Math.floor((budget - buckets * BUCKET_BYTES) / perSlot));
    if (capacity > best.capacity)
      best = { capacity, buckets, bytes: capacity * perSlot + buckets * BUCKET_BYTES };
  }
  return best;
}

export class RowCache {
  /** Floats per slot: the widest row seen so far (0 before the first namespace). */
  private stride = 0;
  private capacity = 0;
  private data = new Float32Array(0);
  /** capacity × (HEADER_WORDS + stride) words: [id, ns, stamp, frequency, row...] per slot. */
  private records = new Uint32Array(0);
  /** Words per record. */
  private width = HEADER_WORDS;
  private index = new Int32Array(0);
  private mask = 0;
  /** The layout's index size: what `index` grows to when the cache is full. */
  private maxBuckets = 0;
  private used = 0;
  private hand = 0;
  private stamp = 0;
  private readonly namespaces = new Map<string, RowCacheNamespace>();
  private nextNamespace = 1;
  // Per-probe scratch of distinct missing ids (an open-addressing set, reused, stamped per probe).
  private scratchKeys = new Uint32Array(0);
  private scratchValues = new Int32Array(0);
  private scratchStamps = new Uint32Array(0);

  /** `budgetBytes` 0 turns the cache off: no namespace, every lookup goes to the store. */
  constructor(readonly budgetBytes: number) {
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0)
      throw new RangeError(`RowCache: budget must be an integer >= 0, got ${budgetBytes}`);
  }

  /** Rows held now. */
  get size(): number {
    return this.used;
  }

  /** Rows it can hold at the current row width (0 before the first namespace). */
  get slots(): number {
    return this.capacity;
  }

  /**
   * Bytes allocated: the arena, the slots' bookkeeping and the index (<= budgetBytes). Not
   * counted: a probe's dedup set (24-48 B per id of the request; at most 3 MiB of it kept).
   */
  get byteLength(): number {
    return this.records.byteLength + this.index.byteLength;
  }

  /**
   * The namespace of one version's table, or undefined when the cache is off or cannot hold a
   * single row of `dim` floats (the caller then goes to the store for everything).
   */
  namespace(
    model: string,
    version: string,
    table: string,
    dim: number,
  ): RowCacheNamespace | undefined {
    if (this.budgetBytes === 0) return undefined;
    const key = `${model}\u0000${version}\u0000${table}`;
    let ns = this.namespaces.get(key);
    if (ns !== undefined && ns.dim === dim) return ns;
    if (dim > this.stride) {
      if (rowCacheLayout(this.budgetBytes, dim).capacity === 0) return undefined;
      this.layOut(dim);
    }
    if (this.namespaces.size >= MAX_NAMESPACES) {
      this.clear();
      this.namespaces.clear();
    }
    // A new namespace number also when a known key comes back with another dim: its old rows
    // (another width) can never be returned for it.
    ns = { id: this.nextNamespace, dim };
    this.nextNamespace = this.nextNamespace >= 0xffffffff ? 1 : this.nextNamespace + 1;
    this.namespaces.set(key, ns);
    return ns;
  }

  /** Drops every row (the layout and the namespaces stay). */
  clear(): void {
    this.used = 0;
    this.hand = 0;
    this.resizeIndex(Math.min(INITIAL_BUCKETS, this.maxBuckets));
  }

  /**
   * Copies the cached rows of `ids` into `out` (ids.length × dim, row i at i × dim) and lists the
   * distinct ids it does not hold. `fill` then puts the store's rows of those in their places.
   */
  probe(ns: RowCacheNamespace, ids: Uint32Array, out: Float32Array): RowProbe {
    const { dim } = ns;
    if (out.length !== ids.length * dim)
      throw new RangeError(
        `RowCache.probe: out has ${out.length} floats, expected ${ids.length}×${dim}`,
      );
    const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const missingAt = new Int32Array(ids.length);
    this.stamp = this.stamp >= 0xffffffff ? 1 : this.stamp + 1;
    if (this.stamp === 1) {
      for (let r = 2; r < this.records.length; r += this.width) this.records[r] = 0;
      this.scratchStamps.fill(0);
    }
    const stamp = this.stamp;
    const { keys: sKeys, values: sValues, stamps: sStamps } = this.scratch(ids.length);
    const sMask = sKeys.length - 1;
    // The hot loop reads the arrays through locals and inlines `find` (no property loads per id).
    const { records, width, index, mask } = this;
    const nsId = ns.id;
    const empty = this.capacity === 0;
    let hits = 0;
    let misses = 0;
    const missingIds = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      let slot = -1;
      if (!empty) {
        for (let b = hash(nsId, id) & mask; ; b = (b + 1) & mask) {
          const entry = index[b] as number;
          if (entry === 0) break;
          const r = (entry - 1) * width;
          if (records[r] === id && records[r + 1] === nsId) {
            slot = entry - 1;
            break;
          }
        }
      }
      if (slot >= 0) {
        missingAt[i] = -1;
        const r = slot * width;
        if (records[r + 2] !== stamp) {
          records[r + 2] = stamp;
          hits += 1;
          const f = records[r + 3] as number;
          if (f < MAX_FREQUENCY) records[r + 3] = f + 1;
        }
        const from = r + HEADER_WORDS;
        const to = i * dim;
        for (let j = 0; j < dim; j += 1) outBits[to + j] = records[from + j] as number;
        continue;
      }
      let b = hash(0, id) & sMask;
      for (;;) {
        if (sStamps[b] !== stamp) {
          sStamps[b] = stamp;
          sKeys[b] = id;
          sValues[b] = misses;
          missingIds[misses] = id;
          missingAt[i] = misses;
          misses += 1;
          break;
        }
        if (sKeys[b] === id) {
          missingAt[i] = sValues[b] as number;
          break;
        }
        b = (b + 1) & sMask;
      }
    }
    return { hits, misses, missing: missingIds.slice(0, misses), missingAt };
  }

  /** Puts `rows` (probe.missing.length × dim, the store's answer) into the positions that missed. */
  static fill(probe: RowProbe, rows: Float32Array, out: Float32Array, dim: number): void {
    if (rows.length !== probe.misses * dim)
      throw new RangeError(`RowCache.fill: ${rows.length} floats, expected ${probe.misses}×${dim}`);
    const rowBits = new Uint32Array(rows.buffer, rows.byteOffset, rows.length);
    const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const { missingAt } = probe;
    for (let i = 0; i < missingAt.length; i += 1) {
      const m = missingAt[i] as number;
      if (m >= 0) copyWords(rowBits, m * dim, outBits, i * dim, dim);
    }
  }

  /** Caches the rows of distinct `ids` (ids.length × dim): only whole, real rows of `ns`'s version. */
  insert(ns: RowCacheNamespace, ids: Uint32Array, rows: Float32Array): void {
    const { dim } = ns;
    if (rows.length !== ids.length * dim)
      throw new RangeError(`RowCache.insert: ${rows.length} floats, expected ${ids.length}×${dim}`);
    // A namespace from before a re-layout to a wider stride still fits (dim <= stride); one the
    // cache cannot hold was never handed out.
    if (this.capacity === 0 || dim > this.stride) return;
    const rowBits = new Uint32Array(rows.buffer, rows.byteOffset, rows.length);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      let slot = this.find(ns.id, id);
      if (slot < 0) {
        if (this.used < this.capacity && (this.used + 1) * 2 > this.index.length)
          this.resizeIndex(this.index.length * 2);
        slot = this.victim();
        const r = slot * this.width;
        this.records[r] = id;
        this.records[r + 1] = ns.id;
        this.records[r + 2] = 0;
        this.records[r + 3] = 0;
        this.link(slot);
      }
      copyWords(rowBits, i * dim, this.records, slot * this.width + HEADER_WORDS, dim);
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  private layOut(stride: number): void {
    const { capacity, buckets } = rowCacheLayout(this.budgetBytes, stride);
    this.stride = stride;
    this.capacity = capacity;
    this.width = HEADER_WORDS + stride;
    this.records = new Uint32Array(capacity * this.width);
    this.maxBuckets = buckets;
    this.used = 0;
    this.hand = 0;
    this.resizeIndex(Math.min(INITIAL_BUCKETS, buckets));
  }

  /** A new index of `buckets` (> 2 × used) buckets holding the `used` slots (all of them live). */
  private resizeIndex(buckets: number): void {
    this.index = new Int32Array(buckets);
    this.mask = buckets - 1;
    for (let slot = 0; slot < this.used; slot += 1) this.link(slot);
  }

  /**
   * The dedup set of a probe of `n` ids: the kept one when it is big enough; kept for the next
   * probes up to MAX_KEPT_SCRATCH entries (12 B each), so one huge Rank does not pin its memory.
   * Fresh stamps are 0, never a live probe's stamp (stamps start at 1).
   */
  private scratch(n: number): { keys: Uint32Array; values: Int32Array; stamps: Uint32Array } {
    const size = nextPow2(Math.max(2 * n, 16));
    if (this.scratchKeys.length >= size)
      return { keys: this.scratchKeys, values: this.scratchValues, stamps: this.scratchStamps };
    const fresh = {
      keys: new Uint32Array(size),
      values: new Int32Array(size),
      stamps: new Uint32Array(size),
    };
    if (size <= MAX_KEPT_SCRATCH) {
      this.scratchKeys = fresh.keys;
      this.scratchValues = fresh.values;
      this.scratchStamps = fresh.stamps;
    }
    return fresh;
  }

  /** The slot holding (ns, id), or -1. */
  private find(ns: number, id: number): number {
    if (this.capacity === 0) return -1;
    let b = hash(ns, id) & this.mask;
    for (;;) {
      const entry = this.index[b] as number;
      if (entry === 0) return -1;
      const slot = entry - 1;
      const r = slot * this.width;
      if (this.records[r] === id && this.records[r + 1] === ns) return slot;
      b = (b + 1) & this.mask;
    }
  }

  /** The hash of a slot's key (namespace, id). */
  private home(slot: number): number {
    const r = slot * this.width;
    return hash(this.records[r + 1] as number, this.records[r] as number);
  }

  private link(slot: number): void {
    let b = this.home(slot) & this.mask;
    while (this.index[b] !== 0) b = (b + 1) & this.mask;
    this.index[b] = slot + 1;
  }

  /** Removes `slot` from the index, shifting back the entries that probed past it. */
  private unlink(slot: number): void {
    const mask = this.mask;
    let b = this.home(slot) & mask;
    while (this.index[b] !== slot + 1) b = (b + 1) & mask;
    this.index[b] = 0;
    let hole = b;
    for (let j = (b + 1) & mask; this.index[j] !== 0; j = (j + 1) & mask) {
      const other = (this.index[j] as number) - 1;
      const home = this.home(other) & mask;
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        this.index[hole] = this.index[j] as number;
        this.index[j] = 0;
        hole = j;
      }
    }
  }

  /** A free slot: an unused one while there are some, else the CLOCK hand's next 0-count slot. */
  private victim(): number {
    if (this.used < this.capacity) {
      const slot = this.used;
      this.used += 1;
      return slot;
    }
    for (;;) {
      const slot = this.hand;
      this.hand = slot + 1 === this.capacity ? 0 : slot + 1;
      const r = slot * this.width + 3;
      const f = this.records[r] as number;
      if (f === 0) {
        this.unlink(slot);
        return slot;
      }
      this.records[r] = f - 1;
    }
  }
}

/** The store's answer for the ids the cache missed. */
export interface FetchedRows {
  /** ids.length × dim, in the order asked. */
  rows: Float32Array;
  /** Some rows are zeros standing for a failed shard (degraded mode). */
  degraded: boolean;
  /** Whole, real rows of the namespace's version: false for a degraded answer. */
  cacheable: boolean;
}

export interface CachedRows {
  rows: Float32Array;
  degraded: boolean;
  /** Distinct ids served from the cache, and asked of the store. */
  hits: number;
  misses: number;
}

/**
 * Rows of `ids` (duplicates included, in order): the cached ones copied, the distinct others
 * fetched in ONE call, put in place, and cached when the answer is cacheable. A degraded answer
 * is used for this request only: its zeros never enter the cache. `observe` hears the hits and
 * misses before the fetch (so that they are recorded even when it fails). `into`, when given, is
 * the array the rows are written to (ids.length × dim floats; the caller's, e.g. pooled).
 */
export async function lookupThroughCache(
  cache: RowCache,
  ns: RowCacheNamespace,
  ids: Uint32Array,
  fetch: (missing: Uint32Array) => Promise<FetchedRows>,
  observe?: (hits: number, misses: number) => void,
  into?: Float32Array,
): Promise<CachedRows> {
  // Every position is written below (a hit by probe, a miss by fill): a reused array is fine.
  const rows = into ?? new Float32Array(ids.length * ns.dim);
  const probe = cache.probe(ns, ids, rows);
  const { hits, misses } = probe;
  observe?.(hits, misses);
  if (misses === 0) return { rows, degraded: false, hits, misses };
  const fetched = await fetch(probe.missing);
  RowCache.fill(probe, fetched.rows, rows, ns.dim);
  if (fetched.cacheable && !fetched.degraded) cache.insert(ns, probe.missing, fetched.rows);
  return { rows, degraded: fetched.degraded, hits, misses };
}
