// Durable, atomic file writes: temp file beside the target, fsync, rename, fsync the directory.
// Nothing half-written ever appears under a final name.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

export function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  let off = 0;
  while (off < bytes.length) {
    const n = writeSync(
      fd,
      bytes,
      off,
      bytes.length - off,
      position === undefined ? null : position + off,
    );
    off += n;
  }
}

/** Writes `bytes` to `path` and fsyncs it (no rename: for files inside a temp directory). */
export function writeFileDurable(path: string, bytes: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` atomically with `bytes`. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = tempPathBeside(path);
  try {
    writeFileDurable(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}
