import { status } from '@grpc/grpc-js';
import { ShardedStoreError, ShardRouter, type ShardMap } from '@embpress/store-client';
import { degradedRows } from './degraded-lookup';
import {
  lookupThroughCache,
  RowCache,
  rowCacheLayout,
  type FetchedRows,
  type RowCacheNamespace,
} from './row-cache';

/** A deterministic "table": row `id` of version `v` (dim floats), every bit pattern allowed. */
function tableRow(v: number, id: number, dim: number): Float32Array {
  const bits = new Uint32Array(dim);
  for (let j = 0; j < dim; j += 1) {
    let h =
      Math.imul(id + 1, 0x9e3779b1) ^ Math.imul(v + 7, 0x85ebca6b) ^ Math.imul(j + 3, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    bits[j] = h;
  }
  // A few patterns a float loop could change: a signalling NaN, -0, a denormal.
  if (id % 7 === 0) bits[0] = 0x7f800001;
  if (id % 11 === 0) bits[dim - 1] = 0x80000000;
  if (id % 13 === 0) bits[0] = 0x00000001;
  return new Float32Array(bits.buffer);
}

function tableRows(v: number, ids: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(ids.length * dim);
  for (let i = 0; i < ids.length; i += 1) out.set(tableRow(v, ids[i] as number, dim), i * dim);
  return out;
}

/** -1 when `a` and `b` hold the same 32-bit patterns, else the first position that differs. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i += 1) if (x[i] !== y[i]) return i;
  return -1;
}

/** A lookup through the cache, the way the Rank handler does it; returns the rows and the probe. */
function lookup(
  cache: RowCache,
  ns: RowCacheNamespace,
  v: number,
  ids: number[],
  cacheable = true,
): { rows: Float32Array; hits: number; misses: number; asked: number[] } {
  const idArray = Uint32Array.from(ids);
  const rows = new Float32Array(ids.length * ns.dim);
  const probe = cache.probe(ns, idArray, rows);
  const fetched = tableRows(v, probe.missing, ns.dim);
  RowCache.fill(probe, fetched, rows, ns.dim);
  if (cacheable) cache.insert(ns, probe.missing, fetched);
  return { rows, hits: probe.hits, misses: probe.misses, asked: Array.from(probe.missing) };
}

describe('RowCache', () => {
  it('returns cached rows equal to the uncached rows bit for bit, duplicates included', () => {
    const dim = 16;
    const cache = new RowCache(1 << 20);
    const ns = cache.namespace('ctr', 'v1', 'sparse', dim) as RowCacheNamespace;
    const ids = [5, 0, 7, 5, 13, 11, 0, 77, 4_000_000_000, 5];
    const first = lookup(cache, ns, 1, ids);
    expect(first).toMatchObject({ hits: 0, misses: 7 });
    expect(first.asked).toEqual([5, 0, 7, 13, 11, 77, 4_000_000_000]);
    const second = lookup(cache, ns, 1, ids);
    expect(second).toMatchObject({ hits: 7, misses: 0, asked: [] });
    const uncached = tableRows(1, ids, dim);
    expect(firstDiff(first.rows, uncached)).toBe(-1);
    expect(firstDiff(second.rows, uncached)).toBe(-1);
    // Mixed: some hits, some misses, in one request.
    const mixed = lookup(cache, ns, 1, [8, 5, 9, 8, 77]);
    expect(mixed).toMatchObject({ hits: 2, misses: 2, asked: [8, 9] });
    expect(firstDiff(mixed.rows, tableRows(1, [8, 5, 9, 8, 77], dim))).toBe(-1);
    expect(cache.size).toBe(9);
  });

  it('never returns a row across versions, tables or models', () => {
    const dim = 8;
    const cache = new RowCache(1 << 20);
    const v1 = cache.namespace('ctr', 'v1', 'sparse', dim) as RowCacheNamespace;
    const v2 = cache.namespace('ctr', 'v2', 'sparse', dim) as RowCacheNamespace;
    const other = cache.namespace('ctr', 'v1', 'other', dim) as RowCacheNamespace;
    const otherModel = cache.namespace('ads', 'v1', 'sparse', dim) as RowCacheNamespace;
    expect(new Set([v1.id, v2.id, other.id, otherModel.id]).size).toBe(4);
    expect(cache.namespace('ctr', 'v1', 'sparse', dim)).toBe(v1);
    const ids = [1, 2, 3, 4];
    lookup(cache, v1, 1, ids);
    // The hot swap: v2 asks the store for every id although v1 holds them all.
    const swapped = lookup(cache, v2, 2, ids);
    expect(swapped).toMatchObject({ hits: 0, misses: 4 });
    expect(firstDiff(swapped.rows, tableRows(2, ids, dim))).toBe(-1);
    expect(lookup(cache, other, 3, ids)).toMatchObject({ hits: 0, misses: 4 });
    expect(lookup(cache, otherModel, 4, ids)).toMatchObject({ hits: 0, misses: 4 });
    // Each keeps its own rows.
    expect(firstDiff(lookup(cache, v1, 1, ids).rows, tableRows(1, ids, dim))).toBe(-1);
    expect(firstDiff(lookup(cache, v2, 2, ids).rows, tableRows(2, ids, dim))).toBe(-1);
    // A table that comes back with another width is a new namespace: none of its old rows.
    const wider = cache.namespace('ctr', 'v1', 'sparse', 16) as RowCacheNamespace;
    expect(wider.id).not.toBe(v1.id);
    expect(lookup(cache, wider, 5, ids)).toMatchObject({ hits: 0, misses: 4 });
  });

  it('holds to its byte budget, whatever the width of the rows', () => {
    for (const budget of [100, 1_000, 4_096, 65_536, 1_000_003, 64 * 1024 * 1024]) {
      for (const dim of [1, 4, 16, 64, 128, 1024]) {
        const layout = rowCacheLayout(budget, dim);
        expect(layout.bytes).toBeLessThanOrEqual(budget);
        // A bigger power-of-two index or one slot more would not fit (the layout is the largest).
        expect(layout.buckets === 0 || layout.capacity * 2 <= layout.buckets).toBe(true);
        const cache = new RowCache(budget);
        const ns = cache.namespace('m', 'v', 't', dim);
        if (layout.capacity === 0) {
          expect(ns).toBeUndefined();
          continue;
        }
        expect(cache.slots).toBe(layout.capacity);
        // The index starts small and grows with the rows (to the layout's size when full).
        expect(cache.byteLength).toBeLessThanOrEqual(layout.bytes);
        if (layout.capacity <= 5_000) {
          const ids = Uint32Array.from({ length: layout.capacity }, (_, i) => i);
          cache.insert(ns as RowCacheNamespace, ids, new Float32Array(ids.length * dim));
          expect(cache.size).toBe(layout.capacity);
          expect(cache.byteLength).toBe(layout.bytes);
        }
        expect(cache.byteLength).toBeLessThanOrEqual(budget);
      }
    }
    // 64 MiB of dim-16 rows: ~750k rows (89 B per row with its bookkeeping).
    expect(rowCacheLayout(64 * 1024 * 1024, 16).capacity).toBeGreaterThan(700_000);

    // Filled far past its capacity, it holds `slots` rows and no more bytes.
    const cache = new RowCache(10_000);
    const ns = cache.namespace('m', 'v', 't', 16) as RowCacheNamespace;
    for (let start = 0; start < 5_000; start += 100)
      lookup(
        cache,
        ns,
        1,
        Array.from({ length: 100 }, (_, i) => start + i),
      );
    expect(cache.size).toBe(cache.slots);
    expect(cache.byteLength).toBeLessThanOrEqual(10_000);
    // A request wider than the cache still gets every row right.
    const ids = Array.from({ length: 1_000 }, (_, i) => 10_000 + i);
    expect(firstDiff(lookup(cache, ns, 1, ids).rows, tableRows(1, ids, 16))).toBe(-1);
  });

  it('evicts cold rows first and keeps the hot ones through a scan (CLOCK with counters)', () => {
    const dim = 4;
    const budget = rowCacheLayout(1 << 16, dim).bytes;
    const cache = new RowCache(budget);
    const ns = cache.namespace('m', 'v', 't', dim) as RowCacheNamespace;
    const slots = cache.slots;
    const hot = Array.from({ length: 50 }, (_, i) => i);
    lookup(cache, ns, 1, hot);
    lookup(cache, ns, 1, hot); // hit once: they now have a count
    // A scan of cold ids, once each, 3× the capacity, in requests of 100.
    for (let start = 1_000; start < 1_000 + 3 * slots; start += 100)
      lookup(
        cache,
        ns,
        1,
        Array.from({ length: 100 }, (_, i) => start + i),
      );
    // Hit between the batches of the scan, the hot rows stay; most of the scan is gone.
    const cache2 = new RowCache(budget);
    const ns2 = cache2.namespace('m', 'v', 't', dim) as RowCacheNamespace;
    lookup(cache2, ns2, 1, hot);
    let hotHits = 0;
    for (let start = 1_000; start < 1_000 + 3 * slots; start += 100) {
      lookup(
        cache2,
        ns2,
        1,
        Array.from({ length: 100 }, (_, i) => start + i),
      );
      hotHits += lookup(cache2, ns2, 1, hot).hits;
    }
    const rounds = Math.ceil((3 * slots) / 100);
    // Every round after the first hits all 50 hot rows (they were re-inserted at most once).
    expect(hotHits).toBeGreaterThanOrEqual((rounds - 1) * hot.length);
    expect(cache2.size).toBe(slots);
    // Without hits in between, the scan pushed the hot rows out (a plain bound: the cache is full
    // of scan rows, and the first hot ids come back as misses).
    expect(lookup(cache, ns, 1, hot).misses).toBeGreaterThan(0);
    expect(cache.size).toBe(slots);
  });

  it('keeps the Zipf head: a high hit ratio with a cache much smaller than the id space', () => {
    const dim = 16;
    const n = 100_000;
    // Zipf(1.1) ids by inverse CDF over a precomputed table, seeded.
    const weights = Float64Array.from({ length: n }, (_, k) => 1 / (k + 1) ** 1.1);
    const cdf = new Float64Array(n);
    let sum = 0;
    weights.forEach((w, k) => {
      sum += w;
      cdf[k] = sum;
    });
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const draw = () => {
      const u = random() * sum;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((cdf[mid] as number) < u) lo = mid + 1;
        else hi = mid;
      }
      // Spread the ranks over the id space (hot ids are not the small ones).
      return Math.imul(lo, 2654435761) >>> 0;
    };
    // About 5% of the ids fit (93 B per slot at most: the row, its bookkeeping, its index share).
    const cache = new RowCache(5_000 * (dim * 4 + 29));
    const ns = cache.namespace('m', 'v', 't', dim) as RowCacheNamespace;
    let hits = 0;
    let misses = 0;
    for (let r = 0; r < 200; r += 1) {
      const ids = Array.from({ length: 500 }, draw);
      const got = lookup(cache, ns, 1, ids);
      if (r >= 50) {
        hits += got.hits;
        misses += got.misses;
      }
      if (r % 50 === 0) expect(firstDiff(got.rows, tableRows(1, ids, dim))).toBe(-1);
    }
    expect(cache.slots).toBeLessThan(6_000);
    expect(hits / (hits + misses)).toBeGreaterThan(0.5);
  });

  it('dedups a request larger than the dedup set it keeps between requests', () => {
    const cache = new RowCache(1 << 22); // ~240k rows of dim 1: nothing evicted here
    const ns = cache.namespace('m', 'v', 't', 1) as RowCacheNamespace;
    // 140,000 positions, 70,000 distinct ids (each twice): a set of 2^19 entries, above the 2^18
    // kept; then a small request again, on the kept one.
    const ids = Array.from({ length: 140_000 }, (_, i) => (i * 3) % 70_000);
    const big = lookup(cache, ns, 1, ids);
    expect(big.misses).toBe(70_000);
    expect(firstDiff(big.rows, tableRows(1, ids, 1))).toBe(-1);
    const small = lookup(cache, ns, 1, [3, 3, 70_001]);
    expect(small).toMatchObject({ hits: 1, misses: 1 });
    expect(firstDiff(small.rows, tableRows(1, [3, 3, 70_001], 1))).toBe(-1);
  });

  it('keeps nothing of an uncacheable (degraded) answer', () => {
    const cache = new RowCache(1 << 16);
    const ns = cache.namespace('m', 'v', 't', 8) as RowCacheNamespace;
    lookup(cache, ns, 1, [1, 2, 3], false);
    expect(cache.size).toBe(0);
    expect(lookup(cache, ns, 1, [1, 2, 3])).toMatchObject({ hits: 0, misses: 3 });
  });

  it('grows its index with the rows, and clear() empties it for reuse', () => {
    const dim = 4;
    const cache = new RowCache(4 * 1024 * 1024);
    const ns = cache.namespace('m', 'v1', 't', dim) as RowCacheNamespace;
    const empty = cache.byteLength;
    // Far more rows than the first index holds at load 1/2 (1,024 buckets).
    const ids = Uint32Array.from({ length: 20_000 }, (_, i) => i * 3 + 1);
    cache.insert(ns, ids, tableRows(1, ids, dim));
    expect(cache.size).toBe(ids.length);
    expect(cache.byteLength).toBeGreaterThan(empty);
    const out = new Float32Array(ids.length * dim);
    expect(cache.probe(ns, ids, out).hits).toBe(ids.length);
    expect(firstDiff(out, tableRows(1, ids, dim))).toBe(-1);
    // The ranker clears a full cache on stop: it must neither hang nor keep a row.
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.byteLength).toBe(empty);
    expect(cache.probe(ns, ids, out).misses).toBe(ids.length);
    cache.insert(ns, ids.subarray(0, 10), tableRows(1, ids.subarray(0, 10), dim));
    expect(cache.probe(ns, ids.subarray(0, 10), out.subarray(0, 10 * dim)).hits).toBe(10);
  });

  it('is off with 0 bytes or a budget below one row: no namespace, nothing held', () => {
    const off = new RowCache(0);
    expect(off.namespace('m', 'v', 't', 16)).toBeUndefined();
    expect(off.byteLength).toBe(0);
    const tiny = new RowCache(64);
    expect(tiny.namespace('m', 'v', 't', 16)).toBeUndefined();
    expect(tiny.namespace('m', 'v', 't', 2)).toBeDefined();
    expect(() => new RowCache(-1)).toThrow(RangeError);
    expect(() => new RowCache(1.5)).toThrow(RangeError);
  });

  it('lays out again for wider rows, keeping the narrower namespaces usable', () => {
    const cache = new RowCache(1 << 16);
    const narrow = cache.namespace('a', 'v1', 't', 4) as RowCacheNamespace;
    lookup(cache, narrow, 1, [1, 2]);
    const narrowSlots = cache.slots;
    const wide = cache.namespace('b', 'v1', 't', 32) as RowCacheNamespace;
    expect(cache.slots).toBeLessThan(narrowSlots);
    expect(cache.size).toBe(0);
    const w = lookup(cache, wide, 2, [1, 2]);
    const n = lookup(cache, narrow, 1, [1, 2]);
    expect(n).toMatchObject({ hits: 0, misses: 2 });
    expect(lookup(cache, narrow, 1, [1, 2])).toMatchObject({ hits: 2, misses: 0 });
    expect(firstDiff(lookup(cache, wide, 2, [1, 2]).rows, w.rows)).toBe(-1);
    expect(firstDiff(n.rows, tableRows(1, [1, 2], 4))).toBe(-1);
  });

  it('stays consistent under random inserts and evictions (every answer checked against the table)', () => {
    const dim = 2;
    const cache = new RowCache(rowCacheLayout(2_000, dim).bytes);
    const nsA = cache.namespace('m', 'v1', 't', dim) as RowCacheNamespace;
    const nsB = cache.namespace('m', 'v2', 't', dim) as RowCacheNamespace;
    let seed = 7;
    const random = (k: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % k;
    };
    for (let r = 0; r < 800; r += 1) {
      const ns = random(2) === 0 ? nsA : nsB;
      const v = ns === nsA ? 1 : 2;
      const ids = Array.from({ length: 1 + random(40) }, () => random(300));
      const got = lookup(cache, ns, v, ids);
      expect(firstDiff(got.rows, tableRows(v, ids, dim))).toBe(-1);
      expect(got.hits + got.misses).toBe(new Set(ids).size);
      expect(cache.size).toBeLessThanOrEqual(cache.slots);
    }
  });
});

describe("lookupThroughCache (the Rank handler's path)", () => {
  // One table of 40 rows over two shards: s0 [0, 20), s1 [20, 40); dim 4.
  const map: ShardMap = {
    shards: ['s0', 's1'].map((name) => ({ name, addresses: ['127.0.0.1:1'] })),
    tables: [
      {
        model: 'm',
        table: 't',
        placement: {
          kind: 'rows',
          ranges: [
            { shard: 's0', start: 0, end: 20 },
            { shard: 's1', start: 20, end: 40 },
          ],
        },
      },
    ],
  };
  const router = new ShardRouter(map);
  const DIM = 4;

  /** The store as the handler sees it: one call per lookup, degraded when a shard is down. */
  function store(version: number) {
    const down = new Set<string>();
    const calls: number[][] = [];
    const call = async (ids: Uint32Array): Promise<Float32Array> => {
      calls.push(Array.from(ids));
      for (const id of ids) {
        const shard = id < 20 ? 's0' : 's1';
        if (down.has(shard))
          throw new ShardedStoreError(status.UNAVAILABLE, `${shard} is down`, { shard });
      }
      return tableRows(version, ids, DIM);
    };
    const fetch = async (ids: Uint32Array): Promise<FetchedRows> => {
      try {
        return { rows: await call(ids), degraded: false, cacheable: true };
      } catch (err) {
        const shard = (err as ShardedStoreError).shard;
        const got = await degradedRows(router, 'm', 't', DIM, ids, shard, call);
        return { rows: got.rows, degraded: true, cacheable: false };
      }
    };
    return { fetch, calls, down };
  }

  it('asks the store once, for the distinct misses only; a full hit asks nothing', async () => {
    const cache = new RowCache(1 << 16);
    const ns = cache.namespace('m', 'v1', 't', DIM) as RowCacheNamespace;
    const { fetch, calls } = store(1);
    const seen: Array<[number, number]> = [];
    const observe = (h: number, m: number) => seen.push([h, m]);
    const a = await lookupThroughCache(cache, ns, Uint32Array.from([3, 25, 3, 7]), fetch, observe);
    const b = await lookupThroughCache(
      cache,
      ns,
      Uint32Array.from([7, 30, 25, 30]),
      fetch,
      observe,
    );
    const c = await lookupThroughCache(cache, ns, Uint32Array.from([30, 3]), fetch, observe);
    expect(calls).toEqual([[3, 25, 7], [30]]);
    expect(seen).toEqual([
      [0, 3],
      [2, 1],
      [2, 0],
    ]);
    expect(firstDiff(a.rows, tableRows(1, [3, 25, 3, 7], DIM))).toBe(-1);
    expect(firstDiff(b.rows, tableRows(1, [7, 30, 25, 30], DIM))).toBe(-1);
    expect(firstDiff(c.rows, tableRows(1, [30, 3], DIM))).toBe(-1);
    expect([a.degraded, b.degraded, c.degraded]).toEqual([false, false, false]);
  });

  it('never caches the zeros of a degraded answer (nor its good rows), and heals after', async () => {
    const cache = new RowCache(1 << 16);
    const ns = cache.namespace('m', 'v1', 't', DIM) as RowCacheNamespace;
    const s = store(1);
    const ids = Uint32Array.from([1, 21, 2, 22]);
    s.down.add('s1');
    const degraded = await lookupThroughCache(cache, ns, ids, s.fetch);
    expect(degraded.degraded).toBe(true);
    expect(Array.from(degraded.rows.subarray(DIM, 2 * DIM))).toEqual([0, 0, 0, 0]);
    expect(cache.size).toBe(0);
    s.down.clear();
    const healed = await lookupThroughCache(cache, ns, ids, s.fetch);
    expect(healed).toMatchObject({ degraded: false, hits: 0, misses: 4 });
    expect(firstDiff(healed.rows, tableRows(1, ids, DIM))).toBe(-1);
    // Cached now: with s1 down again, the same request is whole and not degraded.
    s.down.add('s1');
    const cached = await lookupThroughCache(cache, ns, ids, s.fetch);
    expect(cached).toMatchObject({ degraded: false, hits: 4, misses: 0 });
    expect(firstDiff(cached.rows, tableRows(1, ids, DIM))).toBe(-1);
  });

  it('a hot swap: the new version asks the store for everything and gets its own rows', async () => {
    const cache = new RowCache(1 << 16);
    const v1 = store(1);
    const v2 = store(2);
    const ids = Uint32Array.from([5, 6, 25]);
    const ns1 = cache.namespace('m', 'v1', 't', DIM) as RowCacheNamespace;
    await lookupThroughCache(cache, ns1, ids, v1.fetch);
    const ns2 = cache.namespace('m', 'v2', 't', DIM) as RowCacheNamespace;
    const got = await lookupThroughCache(cache, ns2, ids, v2.fetch);
    expect(got).toMatchObject({ hits: 0, misses: 3 });
    expect(v2.calls).toEqual([[5, 6, 25]]);
    expect(firstDiff(got.rows, tableRows(2, ids, DIM))).toBe(-1);
    // A request still pinned to v1 (in flight across the swap) keeps getting v1's rows.
    const old = await lookupThroughCache(cache, ns1, ids, v1.fetch);
    expect(old).toMatchObject({ hits: 3, misses: 0 });
    expect(firstDiff(old.rows, tableRows(1, ids, DIM))).toBe(-1);
  });

  it('passes a failed fetch through and keeps nothing', async () => {
    const cache = new RowCache(1 << 16);
    const ns = cache.namespace('m', 'v1', 't', DIM) as RowCacheNamespace;
    const failing = () => Promise.reject(new Error('store down'));
    await expect(lookupThroughCache(cache, ns, Uint32Array.from([1]), failing)).rejects.toThrow(
      'store down',
    );
    expect(cache.size).toBe(0);
  });
});
