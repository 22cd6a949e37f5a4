// The model registry on a local directory (an object store later):
//   <root>/<model>/<version>/manifest.json
//   <root>/<model>/<version>/tables/<table>.emb
//   <root>/<model>/active.json            {"version": "..."}: the store's served version
// Writes are atomic: a version is assembled in a temp directory beside its final place, every
// file fsynced, then renamed; the pointer is written to a temp file, fsynced, renamed. Nothing
// half-written is ever visible under a final name.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ModelVersionError } from './errors';
import {
  fileEntrySchema,
  MANIFEST_FORMAT,
  manifestSchema,
  NAME,
  type FileEntry,
  type Manifest,
  type TableEntry,
} from './manifest';

export interface TableToWrite {
  name: string;
  method: string;
  spec: string;
  rows: number;
  dim: number;
  memoryBytes: number;
  /** Artifact bytes (CompressedTable.encode()). */
  bytes: Uint8Array;
}

export interface VersionToWrite {
  model: string;
  version: string;
  tables: TableToWrite[];
  /** Extra manifest fields (model-specific, JSON). */
  extra?: Record<string, unknown>;
  /** Extra files, relative to the version directory (e.g. dense weights). */
  files?: ReadonlyMap<string, Uint8Array>;
}

export interface LoadedVersion {
  manifest: Manifest;
  dir: string;
  /**
   * Verified artifact bytes per table name, each exactly the file's bytes in its own ArrayBuffer
   * at offset 0 (docs/adr/0014): the artifact's 64-byte aligned sections become typed views on
   * it, so a decoded table holds these bytes and no second copy.
   */
  tables: Map<string, Uint8Array>;
}

/** Bytes per read: the hash digests each chunk while it is still in the CPU's cache. */
const CHUNK_BYTES = 4 * 2 ** 20;

/** What a file must be: its manifest entry's size and SHA-256 (undefined: not verified). */
interface Expected {
  bytes: number;
  sha256: string;
}

/**
 * Reads the file `file` of `dir` in chunks, hashing each chunk as it arrives (docs/adr/0014).
 * `keep`: into one new Uint8Array of exactly the file's size, read into directly (no Buffer
 * from readFileSync copied afterwards, no second copy at any moment); otherwise through one
 * reused chunk, for a file that is only verified. The size is checked against the manifest
 * before anything is allocated. 'corrupt' naming the file when it is missing (`missing` says
 * how it is named then), is not a regular file, or differs in size or SHA-256.
 */
function readVerified(
  dir: string,
  where: string,
  file: string,
  expected: Expected | undefined,
  options: { keep: true; missing?: string },
): Uint8Array;
function readVerified(
  dir: string,
  where: string,
  file: string,
  expected: Expected,
  options: { keep: false },
): undefined;
function readVerified(
  dir: string,
  where: string,
  file: string,
  expected: Expected | undefined,
  { keep, missing = file }: { keep: boolean; missing?: string },
): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(join(dir, file), 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ModelVersionError('corrupt', `${where}: ${missing} is missing`);
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile())
      throw new ModelVersionError('corrupt', `${where}: ${file} is not a regular file`);
    const size = stat.size;
    if (expected !== undefined && size !== expected.bytes)
      throw new ModelVersionError(
        'corrupt',
        `${where}: ${file} has ${size} bytes, manifest says ${expected.bytes}`,
      );
    const target = new Uint8Array(keep ? size : Math.min(size, CHUNK_BYTES));
    const hash = expected === undefined ? undefined : createHash('sha256');
    for (let offset = 0; offset < size; ) {
      const at = keep ? offset : 0;
      const read = readSync(fd, target, at, Math.min(CHUNK_BYTES, size - offset), offset);
      if (read === 0)
        throw new ModelVersionError(
          'corrupt',
          `${where}: ${file} ended after ${offset} of its ${size} bytes while it was read`,
        );
      hash?.update(target.subarray(at, at + read));
      offset += read;
    }
    if (hash !== undefined && hash.digest('hex') !== expected?.sha256)
      throw new ModelVersionError('corrupt', `${where}: ${file} SHA-256 mismatch`);
    return keep ? target : undefined;
  } finally {
    closeSync(fd);
  }
}

export function sha256(bytes: Uint8Array): string {
  // In chunks: one update() refuses more than 2^31 - 1 bytes (a 50M-row fp32 table has 3.2 GB).
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES)
    hash.update(bytes.subarray(at, Math.min(bytes.length, at + CHUNK_BYTES)));
  return hash.digest('hex');
}

function checkName(what: string, value: string): void {
  if (!NAME.test(value))
    throw new ModelVersionError(
      'invalid-name',
      `${what} ${JSON.stringify(value)} must be 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit`,
    );
}

/** Writes `bytes` to `path` and fsyncs it (the caller renames into place). */
function writeDurably(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    // At most a chunk per call: one write(2) moves at most ~2 GiB anyway.
    while (off < bytes.length)
      off += writeSync(fd, bytes, off, Math.min(CHUNK_BYTES, bytes.length - off));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class ModelRegistryDir {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** `<root>/<model>[/<version>]`, refusing names that could escape the root. */
  path(model: string, version?: string): string {
    checkName('model', model);
    if (version !== undefined) checkName('version', version);
    const path = version === undefined ? join(this.root, model) : join(this.root, model, version);
    const rel = relative(this.root, path);
    if (rel.startsWith('..') || rel.split(sep).includes('..'))
      throw new ModelVersionError('invalid-name', `${path} is outside the registry root`);
    return path;
  }

  models(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root).filter(
      (n) => NAME.test(n) && statSync(join(this.root, n)).isDirectory(),
    );
  }

  versions(model: string): string[] {
    const dir = this.path(model);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter(
      (n) => NAME.test(n) && existsSync(join(dir, n, 'manifest.json')),
    );
  }

  /** Writes a new version atomically; refuses to replace an existing one. */
  writeVersion(v: VersionToWrite): Manifest {
    const finalDir = this.path(v.model, v.version);
    if (existsSync(finalDir))
      throw new ModelVersionError(
        'exists',
        `${v.model}/${v.version} already exists; versions are immutable`,
      );
    const tables: TableEntry[] = v.tables.map((t) => {
      checkName('table', t.name);
      return {
        name: t.name,
        file: `tables/${t.name}.emb`,
        method: t.method,
        spec: t.spec,
        rows: t.rows,
        dim: t.dim,
        memoryBytes: t.memoryBytes,
        fileBytes: t.bytes.length,
        sha256: sha256(t.bytes),
      };
    });
    const files: FileEntry[] = [...(v.files ?? [])].map(([file, bytes]) => ({
      file,
      bytes: bytes.length,
      sha256: sha256(bytes),
    }));
    const manifest = manifestSchema.parse({
      ...v.extra,
      format: MANIFEST_FORMAT,
      model: v.model,
      version: v.version,
      createdAt: new Date().toISOString(),
      tables,
      ...(files.length === 0 ? {} : { files }),
    });
    const tmp = join(dirname(finalDir), `.tmp-${v.version}-${randomBytes(6).toString('hex')}`);
    try {
      v.tables.forEach((t, i) => writeDurably(join(tmp, (tables[i] as TableEntry).file), t.bytes));
      for (const [rel, bytes] of v.files ?? []) {
        const target = resolve(tmp, rel);
        if (relative(tmp, target).startsWith('..'))
          throw new ModelVersionError(
            'invalid-name',
            `extra file ${rel} is outside the version directory`,
          );
        writeDurably(target, bytes);
      }
      writeDurably(
        join(tmp, 'manifest.json'),
        new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
      );
      fsyncDir(tmp);
      renameSync(tmp, finalDir);
      fsyncDir(dirname(finalDir));
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    return manifest;
  }

  /** Reads and VERIFIES a version: manifest schema, every table file's size and SHA-256. */
  readVersion(model: string, version: string): LoadedVersion {
    const dir = this.path(model, version);
    const manifestPath = join(dir, 'manifest.json');
    if (!existsSync(manifestPath))
      throw new ModelVersionError('not-found', `${model}/${version}: no manifest.json in ${dir}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch (err) {
      throw new ModelVersionError(
        'corrupt',
        `${model}/${version}: manifest.json is not JSON (${(err as Error).message})`,
      );
    }
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ModelVersionError(
        'corrupt',
        `${model}/${version}: manifest.json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const manifest = parsed.data;
    if (manifest.model !== model || manifest.version !== version) {
      throw new ModelVersionError(
        'corrupt',
        `${model}/${version}: manifest names ${manifest.model}/${manifest.version}`,
      );
    }
    const where = `${model}/${version}`;
    const tables = new Map<string, Uint8Array>();
    for (const t of manifest.tables) {
      const bytes = readVerified(
        dir,
        where,
        t.file,
        { bytes: t.fileBytes, sha256: t.sha256 },
        { keep: true, missing: `table file ${t.file}` },
      );
      tables.set(t.name, bytes);
    }
    // Extra files are only verified here (read through one chunk, never held): their users
    // read them again with readVersionFile.
    for (const f of manifest.files ?? []) readVerified(dir, where, f.file, f, { keep: false });
    return { manifest, dir, tables };
  }

  /**
   * One extra file of a version (e.g. dense.weights), verified against its manifest entry (size
   * and SHA-256) before it is returned: 'corrupt' when it differs or is missing, 'not-found'
   * without a manifest. A manifest written before files were hashed has no entry: read as is.
   * A caller that has parsed the manifest already passes it (`manifest`), which is not read again.
   */
  readVersionFile(
    model: string,
    version: string,
    file: string,
    manifest?: Pick<Manifest, 'files'>,
  ): Uint8Array {
    const dir = this.path(model, version);
    const where = `${model}/${version}`;
    const entries = manifest === undefined ? this.fileEntries(dir, where) : manifest.files;
    if (entries === undefined) return readVerified(dir, where, file, undefined, { keep: true });
    const entry = entries.find((e) => e.file === file);
    if (entry === undefined)
      throw new ModelVersionError('corrupt', `${where}: ${file} is not in the manifest's files`);
    return readVerified(dir, where, entry.file, entry, { keep: true });
  }

  /** The `files` entries of a version's manifest (undefined in manifests from before them). */
  private fileEntries(dir: string, where: string): FileEntry[] | undefined {
    const manifestPath = join(dir, 'manifest.json');
    if (!existsSync(manifestPath))
      throw new ModelVersionError('not-found', `${where}: no manifest.json in ${dir}`);
    try {
      const raw = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files?: unknown };
      return raw.files === undefined ? undefined : fileEntrySchema.array().parse(raw.files);
    } catch (err) {
      throw new ModelVersionError(
        'corrupt',
        `${where}: manifest.json files: ${(err as Error).message}`,
      );
    }
  }

  /**
   * The pointer file of `model`, parsed once: undefined when there is none; a corrupt one throws.
   * `previous` is the version it named before (absent in pointers written before it existed).
   */
  private readPointer(model: string): { version: string; previous?: string } | undefined {
    const file = join(this.path(model), 'active.json');
    if (!existsSync(file)) return undefined;
    try {
      const { version, previous } = JSON.parse(readFileSync(file, 'utf8')) as {
        version?: unknown;
        previous?: unknown;
      };
      if (typeof version === 'string' && NAME.test(version))
        return typeof previous === 'string' && NAME.test(previous)
          ? { version, previous }
          : { version };
    } catch {
      // fall through: a corrupt pointer is reported below
    }
    throw new ModelVersionError('corrupt', `${model}: active.json is not a valid pointer`);
  }

  /** The version the store serves for `model` (persisted pointer), if any. */
  activeVersion(model: string): string | undefined {
    return this.readPointer(model)?.version;
  }

  /**
   * The version the pointer named before its current one (`previous` in active.json), if any:
   * what a restarting store falls back to when the current one no longer verifies.
   */
  previousVersion(model: string): string | undefined {
    try {
      return this.readPointer(model)?.previous;
    } catch {
      return undefined;
    }
  }

  /**
   * Atomically points `model` at `version` (temp file + fsync + rename), remembering the version
   * it pointed at before as `previous` (kept when re-pointing at the same version).
   */
  setActiveVersion(model: string, version: string): void {
    const dir = this.path(model);
    checkName('version', version);
    let current: { version: string; previous?: string } | undefined;
    try {
      current = this.readPointer(model);
    } catch {
      current = undefined; // an unreadable pointer is replaced; it has no previous to keep
    }
    const previous = current?.version === version ? current.previous : current?.version;
    const tmp = join(dir, `.active-${randomBytes(6).toString('hex')}.json`);
    writeDurably(
      tmp,
      new TextEncoder().encode(
        `${JSON.stringify({ version, ...(previous === undefined ? {} : { previous }), activatedAt: new Date().toISOString() })}\n`,
      ),
    );
    renameSync(tmp, join(dir, 'active.json'));
    fsyncDir(dir);
  }
}
