// Training checkpoints (docs/adr/0009, docs/adr/0016): after each part the engine writes
// everything an exact resume needs into `<registryRoot>/.checkpoints/<model>/<version>/part-NNNNNN/`
// (NNNNNN: parts done in the whole run, over all stages):
//   checkpoint.json    position (stage, part within it), counters, best-so-far, metrics history,
//                      options fingerprint, and the size and SHA-256 of every other file (last)
//   table.state        the trainable table's full state + sparse optimizer (object-state.ts)
//   dense.ckpt         dense weights + dense optimizer state (libs/models weights file)
//   kept-table.state   the state the stage keeps so far (its `keep` rule), when it keeps one
//   kept-dense.ckpt    its dense weights + optimizer state
//   kept-dense.weights its dense weights alone (what is exported)
// A checkpoint is built in a temp directory and renamed into place, so a kill -9 leaves either the
// whole checkpoint or none. The two newest are kept: a damaged newest one falls back to the one
// before (with a log line naming the file).
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  openSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { TrainError } from './train-errors';

export const CHECKPOINT_FORMAT = 'embpress-train-checkpoint';
/** 2: stages (the kept state is a trainable state, no longer a serving snapshot). */
export const CHECKPOINT_FORMAT_VERSION = 2;
const META = 'checkpoint.json';
const KEEP = 2;
const PART_DIR = /^part-(\d{6})$/;

export interface CheckpointFile {
  bytes: number;
  sha256: string;
}

/** What checkpoint.json holds (besides format and file list). */
export interface CheckpointState {
  model: string;
  version: string;
  /** Options that decide the result: a resume must use the same. */
  fingerprint: Record<string, unknown>;
  /** Parts completed in the whole run, over all stages (names the directory). */
  partsDone: number;
  /** The stage in progress: its index in the method's stages, its name, its parts done. */
  stageIndex: number;
  stage: string;
  stagePartsDone: number;
  /** The stage has ended after its last part (budget, early stop, target): a resume hands on. */
  stageOver: boolean;
  /** How the stage ended (when over). */
  stageEnd: 'budget' | 'early-stop' | 'target' | 'none' | null;
  /** The finished stages' reports. */
  stages: {
    name: string;
    parts: number;
    keptPart: number;
    keptValAuc: number | null;
    end: 'budget' | 'early-stop' | 'target' | 'none';
  }[];
  /** Batches the run's validation cursor has handed out (validationStep stages). */
  validationCursor: number;
  sinceBest: number;
  samplesTrained: number;
  stepSeconds: number;
  loopSeconds: number;
  /** The stage's best validation score so far (early stopping), null before one counts. */
  best: { part: number; auc: number | null; logloss: number | null; rows: number } | null;
  /** The score of the part the stage keeps so far (its files are kept-*), null when none. */
  kept: { part: number; auc: number | null; logloss: number | null; rows: number } | null;
  history: Record<string, unknown>[];
  createdAt: string;
}

export interface CheckpointMeta extends CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  files: Record<string, CheckpointFile>;
}

export interface LoadedCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  files: Map<string, Uint8Array>;
}

/** A file to write, or one to reuse (hard link, else copy) from the previous checkpoint. */
export type CheckpointPayload = Uint8Array | { reuse: string };

/** Written and flushed: a checkpoint renamed into place survives a machine crash too. */
function writeSynced(path: string, bytes: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    writeFileSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export function checkpointRoot(registryRoot: string, model: string): string {
  return join(registryRoot, '.checkpoints', model);
}

/** The checkpoints of one training run (model + version). */
export class CheckpointRun {
  constructor(readonly dir: string) {}

  static of(registryRoot: string, model: string, version: string): CheckpointRun {
    return new CheckpointRun(join(checkpointRoot(registryRoot, model), version));
  }

  /**
   * The run to resume: `version` when given, else the one whose newest checkpoint is newest.
   * Throws when there is none.
   */
  static find(registryRoot: string, model: string, version?: string): CheckpointRun {
    const root = checkpointRoot(registryRoot, model);
    if (version !== undefined) {
      const run = new CheckpointRun(join(root, version));
      if (run.parts().length === 0)
        throw new TrainError(
          'bad-argument',
          `nothing to resume: no checkpoint of ${model}/${version} under ${root}`,
        );
      return run;
    }
    const runs = existsSync(root)
      ? readdirSync(root)
          .map((name) => new CheckpointRun(join(root, name)))
          .filter((run) => run.parts().length > 0)
      : [];
    if (runs.length === 0)
      throw new TrainError(
        'bad-argument',
        `nothing to resume: no checkpoint of ${model} under ${root}`,
      );
    const newest = (run: CheckpointRun) =>
      statSync(join(run.dir, run.parts()[0] as string)).mtimeMs;
    return runs.sort((a, b) => newest(b) - newest(a))[0] as CheckpointRun;
  }

  /** Complete checkpoint directories, newest (highest part) first. */
  parts(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((n) => PART_DIR.test(n))
      .sort()
      .reverse();
  }

  /** Writes a checkpoint atomically; keeps the newest two. Returns its directory. */
  write(state: CheckpointState, payload: ReadonlyMap<string, CheckpointPayload>): string {
    mkdirSync(this.dir, { recursive: true });
    const name = `part-${String(state.partsDone).padStart(6, '0')}`;
    const tmp = mkdtempSync(join(this.dir, `.tmp-${name}-`));
    try {
      const files: Record<string, CheckpointFile> = {};
      for (const [file, content] of payload) {
        const target = join(tmp, file);
        if (content instanceof Uint8Array) {
          writeSynced(target, content);
          files[file] = { bytes: content.length, sha256: sha256(content) };
        } else {
          // The previous checkpoint was verified when written; its entry describes the bytes.
          const prev = JSON.parse(
            readFileSync(join(content.reuse, META), 'utf8'),
          ) as CheckpointMeta;
          const entry = prev.files[file];
          if (entry === undefined) throw new Error(`checkpoint ${content.reuse} has no ${file}`);
          try {
            linkSync(join(content.reuse, file), target);
          } catch {
            copyFileSync(join(content.reuse, file), target);
          }
          files[file] = entry;
        }
      }
      const meta: CheckpointMeta = {
        format: CHECKPOINT_FORMAT,
        formatVersion: CHECKPOINT_FORMAT_VERSION,
        ...state,
        files,
      };
      writeSynced(join(tmp, META), JSON.stringify(meta));
      const final = join(this.dir, name);
      // A checkpoint of the same part can exist after a resume that re-ran it.
      if (existsSync(final)) rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      for (const old of this.parts().slice(KEEP))
        rmSync(join(this.dir, old), { recursive: true, force: true });
      return final;
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Reads and verifies one checkpoint directory; a problem names the file. */
  load(dir: string): LoadedCheckpoint {
    const metaPath = join(dir, META);
    let meta: CheckpointMeta;
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CheckpointMeta;
    } catch (err) {
      throw new TrainError(
        'bad-argument',
        `checkpoint ${metaPath} is unreadable: ${(err as Error).message}`,
      );
    }
    if (meta.format !== CHECKPOINT_FORMAT || meta.formatVersion !== CHECKPOINT_FORMAT_VERSION)
      throw new TrainError(
        'bad-argument',
        `checkpoint ${metaPath} is not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_FORMAT_VERSION} file${meta.format === CHECKPOINT_FORMAT ? ` (v${meta.formatVersion}: written by an older build; train again without --resume)` : ''}`,
      );
    const files = new Map<string, Uint8Array>();
    for (const [name, entry] of Object.entries(meta.files ?? {})) {
      const path = join(dir, name);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (err) {
        throw new TrainError(
          'bad-argument',
          `checkpoint file ${path} is unreadable: ${(err as Error).message}`,
        );
      }
      if (bytes.length !== entry.bytes)
        throw new TrainError(
          'bad-argument',
          `checkpoint file ${path} has ${bytes.length} bytes, ${META} says ${entry.bytes} (truncated?)`,
        );
      if (sha256(bytes) !== entry.sha256)
        throw new TrainError('bad-argument', `checkpoint file ${path} fails its SHA-256 check`);
      files.set(name, bytes);
    }
    return { dir, meta, files };
  }

  /**
   * The newest checkpoint that verifies. A damaged one is skipped with `log` naming it; when none
   * verifies the error names every problem.
   */
  latest(log: (line: string) => void): LoadedCheckpoint {
    const problems: string[] = [];
    for (const name of this.parts()) {
      try {
        const loaded = this.load(join(this.dir, name));
        if (problems.length > 0) log(`resuming from the previous checkpoint ${loaded.dir} instead`);
        return loaded;
      } catch (err) {
        if (!(err instanceof TrainError)) throw err;
        problems.push(err.message);
        log(err.message);
      }
    }
    throw new TrainError(
      'bad-argument',
      problems.length === 0
        ? `nothing to resume: no checkpoint in ${this.dir}`
        : `no usable checkpoint in ${this.dir}: ${problems.join('; ')}`,
    );
  }

  /** Removes the run's checkpoints (after a successful export). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Differences between a checkpoint's fingerprint and this run's, as "key: A (checkpoint) vs B". */
export function fingerprintDiff(
  saved: Record<string, unknown>,
  now: Record<string, unknown>,
): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map(
      (k) =>
        `${k}: ${JSON.stringify(saved[k]) ?? 'unset'} (checkpoint) vs ${JSON.stringify(now[k]) ?? 'unset'} (now)`,
    );
}
