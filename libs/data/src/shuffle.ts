// The train split is shuffled once, like the reference (docs/methods/reference.md#data), but with a
// seed and in bounded memory: a two-pass external shuffle. Pass 1 sends each record to one of K
// bucket files chosen uniformly at random; pass 2 loads one bucket at a time (<= ~bucketBytes),
// shuffles it (Fisher-Yates) and appends it to the cache. Uniform bucket choice followed by a
// uniform shuffle of each bucket gives a uniformly random permutation of all records.
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { writeAll } from './atomic';
import { Prng } from './prng';
import {
  CacheWriter,
  recordBytes,
  scratchPath,
  type CacheHeader,
  type EncodedBatch,
  type RowSink,
} from './cache';

export interface ShuffleOptions {
  seed: number;
  /** Expected rows (to size the buckets); more or fewer only changes bucket sizes. */
  expectedRows: number;
  /** Target bytes per bucket, i.e. the memory of pass 2 (default 32 MiB). */
  bucketBytes?: number;
}

const BUCKET_BUFFER_RECORDS = 512;
const MAX_BUCKETS = 1024;

export class ShuffledCacheWriter implements RowSink {
  private readonly writer: CacheWriter;
  private readonly rng: Prng;
  private readonly rec: number;
  private readonly words: number;
  private readonly bucketPaths: string[];
  private readonly fds: number[];
  private readonly buffers: Uint32Array[];
  private readonly fills: Int32Array;
  private closed = false;

  constructor(
    readonly path: string,
    readonly dense: number,
    readonly sparse: number,
    options: ShuffleOptions,
    meta: Record<string, unknown> = {},
  ) {
    this.writer = new CacheWriter(path, dense, sparse, meta);
    this.rng = new Prng(options.seed);
    this.rec = recordBytes(dense, sparse);
    this.words = this.rec / 4;
    const bucketBytes = options.bucketBytes ?? 32 * 1024 * 1024;
    const k = Math.min(
      MAX_BUCKETS,
      Math.max(1, Math.ceil((options.expectedRows * this.rec) / bucketBytes)),
    );
    this.bucketPaths = [];
    this.fds = [];
    try {
      for (let i = 0; i < k; i += 1) {
        const p = scratchPath(path, `bucket${i}`);
        this.fds.push(openSync(p, 'w+'));
        this.bucketPaths.push(p);
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    this.buffers = this.fds.map(() => new Uint32Array(BUCKET_BUFFER_RECORDS * this.words));
    this.fills = new Int32Array(k);
  }

  get buckets(): number {
    return this.fds.length;
  }

  append(batch: EncodedBatch, from = 0, to = batch.size): void {
    const { dense: nd, sparse: ns, words: w } = this;
    const k = this.fds.length;
    const labelBits = new Uint32Array(
      batch.labels.buffer,
      batch.labels.byteOffset,
      batch.labels.length,
    );
    const denseBits = new Uint32Array(
      batch.dense.buffer,
      batch.dense.byteOffset,
      batch.dense.length,
    );
    for (let r = from; r < to; r += 1) {
      const b = k === 1 ? 0 : this.rng.int(0, k);
      const buf = this.buffers[b] as Uint32Array;
      const fill = this.fills[b] as number;
      let o = fill * w;
      buf[o] = labelBits[r] as number;
      o += 1;
      for (let j = 0; j < nd; j += 1) buf[o + j] = denseBits[r * nd + j] as number;
      o += nd;
      for (let j = 0; j < ns; j += 1) buf[o + j] = batch.sparse[r * ns + j] as number;
      this.fills[b] = fill + 1;
      if (fill + 1 === BUCKET_BUFFER_RECORDS) this.flushBucket(b);
    }
  }

  private flushBucket(b: number): void {
    const fill = this.fills[b] as number;
    if (fill === 0) return;
    const buf = this.buffers[b] as Uint32Array;
    writeAll(this.fds[b] as number, new Uint8Array(buf.buffer, 0, fill * this.rec));
    this.fills[b] = 0;
  }

  finish(): CacheHeader {
    const w = this.words;
    try {
      for (let b = 0; b < this.fds.length; b += 1) {
        this.flushBucket(b);
        closeSync(this.fds[b] as number);
        this.fds[b] = -1;
        const bytes = readFileSync(this.bucketPaths[b] as string);
        rmSync(this.bucketPaths[b] as string, { force: true });
        // readFileSync's Buffer may sit at any offset of a shared pool: copy to an aligned one.
        const records = new Uint32Array(bytes.length / 4);
        new Uint8Array(records.buffer).set(bytes);
        const n = records.length / w;
        const tmp = new Uint32Array(w);
        for (let i = n - 1; i > 0; i -= 1) {
          const j = this.rng.int(0, i + 1);
          if (j === i) continue;
          tmp.set(records.subarray(i * w, i * w + w));
          records.copyWithin(i * w, j * w, j * w + w);
          records.set(tmp, j * w);
        }
        this.writer.appendRecords(new Uint8Array(records.buffer));
      }
      this.closed = true;
      return this.writer.finish();
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    for (let b = 0; b < this.fds.length; b += 1) {
      const fd = this.fds[b] as number;
      if (fd >= 0) closeSync(fd);
    }
    for (const p of this.bucketPaths) rmSync(p, { force: true });
    this.writer.abort();
  }
}
