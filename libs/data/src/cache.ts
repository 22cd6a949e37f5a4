// The preprocessed binary cache of one split (docs/methods/reference.md#data), so epochs stream
// without re-parsing text. One file, fixed-size little-endian records:
//
//   0     8 bytes  magic "EMBPDSET"
//   8     u32      format version (1)
//   12    u32      byte length L of the header JSON
//   16    L bytes  header JSON (rows, dense, sparse, recordBytes, crc32 of the records, ...)
//   4096  rows x record, record = label f32 | dense f32 x D (already ln(v+1)) | sparse u32 x F
//                                 (global ids)
//
// Row-major records make a batch one sequential read. The writer streams records to a temp
// file, then writes the header (now knowing rows and CRC), fsyncs and renames: a cache is complete
// or absent. The reader refuses a file whose size disagrees with its header (truncated) and
// checks the records' CRC-32 whenever it streams the whole file.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { fsyncDir, tempPathBeside, writeAll } from './atomic';
import { DataError } from './errors';
import { dirname } from 'node:path';

/** A batch ready for a model: dense already transformed, sparse as global ids. */
export interface EncodedBatch {
  size: number;
  /** 0 or 1 per row. */
  labels: Float32Array;
  /** size x numDense, ln(v+1) transformed. */
  dense: Float32Array;
  /** size x numSparse global ids (local id = global - vocabulary.offsets[field]). */
  sparse: Uint32Array;
  /** Position of the batch's first row in its cache (for resuming), when read from one. */
  firstRow?: number;
}

export const CACHE_MAGIC = 'EMBPDSET';
export const CACHE_VERSION = 1;
export const CACHE_DATA_OFFSET = 4096;

const headerSchema = z
  .object({
    format: z.literal('embpress.dataset-cache'),
    rows: z.number().int().min(0),
    dense: z.number().int().min(0),
    sparse: z.number().int().min(0),
    recordBytes: z.number().int().min(4),
    crc32: z.number().int().min(0).max(0xffffffff),
    /** Free-form facts of the writer (split name, shuffle seed, vocabulary fingerprint...). */
    meta: z.record(z.unknown()),
  })
  .strict();

export type CacheHeader = z.infer<typeof headerSchema>;

export function recordBytes(dense: number, sparse: number): number {
  return 4 * (1 + dense + sparse);
}

function checkLittleEndian(): void {
  // Records are written through typed-array views, i.e. in the machine's byte order.
  if (endianness() !== 'LE')
    throw new DataError('bad-argument', 'the dataset cache needs a little-endian machine');
}

const FLUSH_BYTES = 1 << 20;

/** Anything that takes encoded rows: a plain cache writer or the shuffling one. */
export interface RowSink {
  append(batch: EncodedBatch, from?: number, to?: number): void;
  finish(): CacheHeader;
  abort(): void;
}

export class CacheWriter implements RowSink {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly buf: ArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly f32: Float32Array;
  private readonly u32: Uint32Array;
  private readonly recordWords: number;
  private fill = 0; // bytes in buf
  private written = 0; // bytes flushed after the header
  private crc = 0;
  private rows = 0;
  private done = false;

  constructor(
    readonly path: string,
    readonly dense: number,
    readonly sparse: number,
    private readonly meta: Record<string, unknown> = {},
  ) {
    checkLittleEndian();
    this.recordWords = 1 + dense + sparse;
    const rec = this.recordWords * 4;
    this.buf = new ArrayBuffer(Math.max(rec, Math.floor(FLUSH_BYTES / rec) * rec));
    this.u8 = new Uint8Array(this.buf);
    this.f32 = new Float32Array(this.buf);
    this.u32 = new Uint32Array(this.buf);
    this.tmp = tempPathBeside(path);
    this.fd = openSync(this.tmp, 'w');
    writeAll(this.fd, new Uint8Array(CACHE_DATA_OFFSET));
  }

  get rowCount(): number {
    return this.rows;
  }

  append(batch: EncodedBatch, from = 0, to = batch.size): void {
    const { dense: nd, sparse: ns, recordWords: w } = this;
    if (batch.dense.length !== batch.size * nd || batch.sparse.length !== batch.size * ns)
      throw new DataError(
        'bad-argument',
        `cache ${this.path}: batch of ${batch.size} rows has ${batch.dense.length} dense and ${batch.sparse.length} sparse values, expected ${nd} and ${ns} per row`,
      );
    for (let r = from; r < to; r += 1) {
      if (this.fill + w * 4 > this.buf.byteLength) this.flush();
      let o = this.fill >> 2;
      this.f32[o] = batch.labels[r] as number;
      o += 1;
      for (let j = 0; j < nd; j += 1) this.f32[o + j] = batch.dense[r * nd + j] as number;
      o += nd;
      for (let j = 0; j < ns; j += 1) this.u32[o + j] = batch.sparse[r * ns + j] as number;
      this.fill += w * 4;
      this.rows += 1;
    }
  }

  /** Appends whole records (bytes in the record layout). */
  appendRecords(bytes: Uint8Array): void {
    const rec = this.recordWords * 4;
    if (bytes.length % rec !== 0)
      throw new DataError('bad-argument', `${bytes.length} bytes is not a whole number of records`);
    this.flush();
    this.crc = crc32(bytes, this.crc);
    writeAll(this.fd, bytes);
    this.written += bytes.length;
    this.rows += bytes.length / rec;
  }

  private flush(): void {
    if (this.fill === 0) return;
    const chunk = this.u8.subarray(0, this.fill);
    this.crc = crc32(chunk, this.crc);
    writeAll(this.fd, chunk);
    this.written += this.fill;
    this.fill = 0;
  }

  finish(): CacheHeader {
    if (this.done) throw new DataError('bad-argument', `cache ${this.path} already finished`);
    this.flush();
    const header: CacheHeader = {
      format: 'embpress.dataset-cache',
      rows: this.rows,
      dense: this.dense,
      sparse: this.sparse,
      recordBytes: this.recordWords * 4,
      crc32: this.crc >>> 0,
      meta: this.meta,
    };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    if (16 + json.length > CACHE_DATA_OFFSET)
      throw new DataError('bad-argument', `cache header of ${json.length} bytes is too long`);
    const head = Buffer.alloc(16 + json.length);
    head.write(CACHE_MAGIC, 0, 'latin1');
    head.writeUInt32LE(CACHE_VERSION, 8);
    head.writeUInt32LE(json.length, 12);
    json.copy(head, 16);
    writeAll(this.fd, head, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.done = true;
    renameSync(this.tmp, this.path);
    fsyncDir(dirname(this.path));
    return header;
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } finally {
      rmSync(this.tmp, { force: true });
    }
  }
}

export interface CacheBatchOptions {
  batchSize: number;
  /**
   * Drop a last partial batch. Default false. Training passes true (the reference drops it,
   * docs/methods/reference.md#data); evaluation keeps it so every row is scored.
   */
  dropLast?: boolean;
  /** First row to read (to resume inside an epoch). */
  start?: number;
  /** Row after the last one to read. */
  end?: number;
  /** Check the records' CRC-32 when the whole file is read (default true). */
  verify?: boolean;
}

export class CacheReader {
  private constructor(
    readonly path: string,
    readonly header: CacheHeader,
  ) {}

  get rows(): number {
    return this.header.rows;
  }

  /** Reads and checks the header and the file size; refuses truncated or foreign files. */
  static open(path: string): CacheReader {
    checkLittleEndian();
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new DataError('missing-file', `${path}: no such cache file`, { file: path });
    }
    const corrupt = (why: string) =>
      new DataError('corrupt-cache', `${path}: not a valid dataset cache: ${why}`, { file: path });
    if (size < CACHE_DATA_OFFSET)
      throw corrupt(`truncated (${size} bytes, header alone is ${CACHE_DATA_OFFSET})`);
    const head = Buffer.alloc(CACHE_DATA_OFFSET);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, CACHE_DATA_OFFSET, 0);
    } finally {
      closeSync(fd);
    }
    if (head.toString('latin1', 0, 8) !== CACHE_MAGIC) throw corrupt('bad magic');
    const version = head.readUInt32LE(8);
    if (version !== CACHE_VERSION)
      throw corrupt(`format version ${version}, this reader knows ${CACHE_VERSION}`);
    const len = head.readUInt32LE(12);
    if (len === 0 || 16 + len > CACHE_DATA_OFFSET) throw corrupt(`header length ${len}`);
    let parsed: CacheHeader;
    try {
      parsed = headerSchema.parse(JSON.parse(head.toString('utf8', 16, 16 + len)));
    } catch (err) {
      throw corrupt(`header: ${(err as Error).message}`);
    }
    if (parsed.recordBytes !== recordBytes(parsed.dense, parsed.sparse))
      throw corrupt(
        `record of ${parsed.recordBytes} bytes for ${parsed.dense} dense + ${parsed.sparse} sparse`,
      );
    const expected = CACHE_DATA_OFFSET + parsed.rows * parsed.recordBytes;
    if (size !== expected)
      throw corrupt(
        `${size < expected ? 'truncated' : 'trailing bytes'}: ${size} bytes, the header promises ${parsed.rows} rows = ${expected} bytes`,
      );
    return new CacheReader(path, parsed);
  }

  /** Number of batches `batches(options)` yields. */
  batchCount(options: CacheBatchOptions): number {
    const rows = (options.end ?? this.rows) - (options.start ?? 0);
    return options.dropLast
      ? Math.floor(rows / options.batchSize)
      : Math.ceil(rows / options.batchSize);
  }

  /**
   * Streams batches in file order, one read ahead (the next batch is read while the caller works on
   * this one). Every batch has fresh arrays the caller may keep.
   */
  async *batches(options: CacheBatchOptions): AsyncGenerator<EncodedBatch> {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new DataError('bad-argument', `batchSize must be a positive integer, got ${batchSize}`);
    const start = options.start ?? 0;
    const end = options.end ?? this.rows;
    if (
      !(
        Number.isInteger(start) &&
        Number.isInteger(end) &&
        start >= 0 &&
        start <= end &&
        end <= this.rows
      )
    )
      throw new DataError(
        'bad-argument',
        `rows [${start}, ${end}) outside the cache's ${this.rows} rows`,
      );
    const verify = (options.verify ?? true) && start === 0 && end === this.rows;
    const { recordBytes: rec, dense: nd, sparse: ns } = this.header;
    const w = 1 + nd + ns;
    const fh = await open(this.path, 'r');
    let crc = 0;
    const read = async (
      from: number,
      rows: number,
    ): Promise<{ from: number; bytes: Uint8Array }> => {
      const bytes = new Uint8Array(rows * rec);
      let off = 0;
      while (off < bytes.length) {
        const { bytesRead } = await fh.read(
          bytes,
          off,
          bytes.length - off,
          CACHE_DATA_OFFSET + from * rec + off,
        );
        if (bytesRead === 0)
          throw new DataError(
            'corrupt-cache',
            `${this.path}: truncated while reading row ${from}`,
            { file: this.path },
          );
        off += bytesRead;
      }
      return { from, bytes };
    };
    let next = start;
    const nextRead = () => {
      const rows = Math.min(batchSize, end - next);
      const p = read(next, rows);
      next += rows;
      return p;
    };
    let pending = next < end ? nextRead() : undefined;
    try {
      while (pending !== undefined) {
        const { from, bytes } = await pending;
        pending = next < end ? nextRead() : undefined;
        if (verify) crc = crc32(bytes, crc);
        const rows = bytes.length / rec;
        if (rows < batchSize && options.dropLast) continue;
        const f32 = new Float32Array(bytes.buffer, bytes.byteOffset, rows * w);
        const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, rows * w);
        const labels = new Float32Array(rows);
        const dense = new Float32Array(rows * nd);
        const sparse = new Uint32Array(rows * ns);
        for (let r = 0; r < rows; r += 1) {
          const o = r * w;
          labels[r] = f32[o] as number;
          for (let j = 0; j < nd; j += 1) dense[r * nd + j] = f32[o + 1 + j] as number;
          for (let j = 0; j < ns; j += 1) sparse[r * ns + j] = u32[o + 1 + nd + j] as number;
        }
        yield { size: rows, labels, dense, sparse, firstRow: from };
      }
      if (verify && crc >>> 0 !== this.header.crc32)
        throw new DataError(
          'corrupt-cache',
          `${this.path}: records fail their CRC-32 (${(crc >>> 0).toString(16)} != ${this.header.crc32.toString(16)})`,
          { file: this.path },
        );
    } finally {
      // A consumer that stops early leaves the read-ahead in flight: let it settle before closing.
      if (pending !== undefined) await pending.catch(() => undefined);
      await fh.close();
    }
  }
}

/** Unique name for a scratch file next to `path` (the shuffle buckets). */
export function scratchPath(path: string, tag: string): string {
  return `${path}.${tag}-${randomBytes(4).toString('hex')}`;
}
