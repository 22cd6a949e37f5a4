// Streaming line splitter over fs streams: the file is never held in memory, only one chunk
// (1 MiB by default) plus the unfinished line at its end. Lines come in blocks (one per chunk),
// so the per-line cost is a string split, not an async iteration step.
// Gzip input (magic bytes 1f 8b, whatever the name) is decompressed on the fly.
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataError } from './errors';

export interface LineBlock {
  /** The lines of this block, without their `\n` or `\r\n`; blank lines included (as ''). */
  lines: string[];
  /** 1-based line number of `lines[0]`. */
  firstLine: number;
}

export interface LineStreamOptions {
  /** Read size; also the granularity of a block. */
  chunkBytes?: number;
  /** Sees every decompressed byte in order (used to fingerprint a source while it is read). */
  onBytes?: (chunk: Buffer) => void;
}

/** A single line longer than this is refused (a binary file or a missing newline convention). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Checks that `path` is a readable regular file; `DataError('missing-file')` otherwise. */
export function checkFile(path: string): { bytes: number } {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new DataError('missing-file', `${path}: no such file`, { file: path });
  }
  if (!st.isFile())
    throw new DataError('missing-file', `${path}: not a regular file`, { file: path });
  return { bytes: st.size };
}

function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** The decompressed byte stream of a file (gzip detected by its magic bytes). */
export function openByteStream(path: string, chunkBytes = 1 << 20): Readable {
  checkFile(path);
  const raw = createReadStream(path, { highWaterMark: chunkBytes });
  if (!isGzip(path)) return raw;
  const gunzip = createGunzip({ chunkSize: Math.min(chunkBytes, 1 << 20) });
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

async function* byteChunks(path: string, options: LineStreamOptions): AsyncGenerator<Buffer> {
  const stream = openByteStream(path, options.chunkBytes);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      options.onBytes?.(chunk);
      yield chunk;
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR')
      throw new DataError(
        'malformed-line',
        `${path}: corrupt gzip stream (${(err as Error).message})`,
        {
          file: path,
        },
      );
    throw err;
  } finally {
    stream.destroy();
  }
}

/**
 * Yields the file's lines in blocks. A chunk is cut at its last `\n` (a character boundary in
 * UTF-8), decoded once and split; the tail waits for the next chunk. A UTF-8 byte-order mark at
 * the start is dropped.
 */
export async function* readLineBlocks(
  path: string,
  options: LineStreamOptions = {},
): AsyncGenerator<LineBlock> {
  let carry: Buffer | undefined;
  let lineNo = 1;
  let first = true;
  const emit = (text: string): LineBlock => {
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i] as string;
      if (line.charCodeAt(line.length - 1) === 13) lines[i] = line.slice(0, -1);
    }
    const block = { lines, firstLine: lineNo };
    lineNo += lines.length;
    return block;
  };
  for await (const chunk of byteChunks(path, options)) {
    const buf: Buffer = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
    const lastNl = buf.lastIndexOf(10);
    if (lastNl < 0) {
      if (buf.length > MAX_LINE_BYTES)
        throw new DataError(
          'malformed-line',
          `${path}:${lineNo}: line longer than ${MAX_LINE_BYTES} bytes (not a text file?)`,
          { file: path, line: lineNo },
        );
      carry = buf;
      continue;
    }
    carry = lastNl + 1 < buf.length ? buf.subarray(lastNl + 1) : undefined;
    yield emit(buf.toString('utf8', 0, lastNl));
  }
  if (carry !== undefined && carry.length > 0) yield emit(carry.toString('utf8'));
}

/**
 * Counts non-blank lines (a blank line is empty or a lone `\r`) on bytes, without decoding:
 * the same lines `readLineBlocks` consumers treat as data. Fast enough to run before a pass that
 * needs the row count (split boundaries).
 */
export async function countNonBlankLines(path: string): Promise<number> {
  let count = 0;
  let lineLen = 0;
  let firstByte = -1;
  let first = true;
  for await (const chunk of byteChunks(path, {})) {
    let pos = 0;
    if (first) {
      first = false;
      // A byte-order mark is not content (readLineBlocks drops it too).
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) pos = 3;
    }
    for (;;) {
      const nl = chunk.indexOf(10, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (end > pos) {
        if (lineLen === 0) firstByte = chunk[pos] as number;
        lineLen += end - pos;
      }
      if (nl < 0) break;
      if (lineLen > 1 || (lineLen === 1 && firstByte !== 13)) count += 1;
      lineLen = 0;
      pos = nl + 1;
    }
  }
  if (lineLen > 1 || (lineLen === 1 && firstByte !== 13)) count += 1;
  return count;
}
