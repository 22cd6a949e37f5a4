// Watch mode (EMBPRESS_STORE_WATCH): the store follows the registry's persisted active pointers.
// Publishing a version is "write the version directory, then atomically replace
// <root>/<model>/active.json" (ModelRegistryDir.writeVersion + setActiveVersion, as the trainer's
// export and ActivateVersion do); a watching store sees the pointer change, loads the version with
// the same verification as LoadVersion (manifest, sizes, SHA-256, artifact decode) and activates it
// as ActivateVersion does (atomic per model, old version released after its in-flight calls). A
// version that fails verification is refused and logged, and the current one keeps serving; the
// same refused version is not retried until the pointer names another one. Several replicas
// watching one registry volume therefore converge on the same versions without an admin call.
//
// Change detection: fs.watch on the root (new model directories) and on each model directory
// (active.json replaced), debounced; plus a poll every `intervalMs`, which is also the fallback
// where fs.watch is unavailable or drops events (network file systems, some container volumes).
import { watch, type FSWatcher } from 'node:fs';
import type { ModelRegistryDir } from '@embpress/model-registry';
import type { Logger } from '@embpress/service-kit';
import type { ModelVersions } from './model-versions';

export interface RegistryWatcherOptions {
  intervalMs: number;
  /** false: polling only (tests of the fallback; file systems without inotify). */
  useFsWatch?: boolean;
}

export type WatchEvent =
  | { kind: 'activated'; model: string; version: string; previous: string | undefined }
  | { kind: 'refused'; model: string; version: string; error: unknown }
  | { kind: 'bad-pointer'; model: string; error: unknown };

export class RegistryWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  /** Last version refused per model: not retried until the pointer names another one. */
  private readonly refused = new Map<string, string>();
  /** Last unreadable-pointer message per model, so a bad pointer is logged once, not per poll. */
  private readonly badPointers = new Map<string, string>();
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly dir: ModelRegistryDir,
    private readonly versions: ModelVersions,
    private readonly logger: Logger,
    private readonly options: RegistryWatcherOptions,
    /** Observers (tests); every event is also logged. */
    private readonly onEvent: (event: WatchEvent) => void = () => undefined,
  ) {}

  start(): void {
    this.scan();
    this.poll = setInterval(() => this.scan(), this.options.intervalMs);
    this.poll.unref();
    this.logger.info(
      {
        root: this.dir.root,
        intervalMs: this.options.intervalMs,
        fsWatch: this.options.useFsWatch !== false,
      },
      'watching the registry for active version changes',
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.poll !== undefined) clearInterval(this.poll);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** One pass over every model's pointer; public for tests and for the first pass at start. */
  scan(): void {
    if (this.stopped) return;
    this.watchPath(this.dir.root);
    let models: string[];
    try {
      models = this.dir.models();
    } catch (error) {
      this.logger.warn({ err: error, root: this.dir.root }, 'watch: registry root unreadable');
      return;
    }
    for (const model of models) {
      this.watchPath(this.dir.path(model));
      this.follow(model);
    }
  }

  private follow(model: string): void {
    let pointed: string | undefined;
    try {
      pointed = this.dir.activeVersion(model);
      this.badPointers.delete(model);
    } catch (error) {
      const message = (error as Error).message;
      if (this.badPointers.get(model) !== message) {
        this.badPointers.set(model, message);
        this.logger.error(
          { err: error, model },
          'watch: active pointer unreadable; serving unchanged',
        );
        this.onEvent({ kind: 'bad-pointer', model, error });
      }
      return;
    }
    if (pointed === undefined || pointed === this.versions.activeVersion(model)) return;
    if (this.refused.get(model) === pointed) return;
    try {
      this.versions.load(model, pointed);
      const previous = this.versions.activate(model, pointed, { persist: false });
      this.refused.delete(model);
      this.logger.info({ model, version: pointed, previous }, 'watch: version activated');
      this.onEvent({ kind: 'activated', model, version: pointed, previous });
    } catch (error) {
      this.refused.set(model, pointed);
      this.logger.error(
        { err: error, model, version: pointed, serving: this.versions.activeVersion(model) },
        'watch: version refused; the current version keeps serving',
      );
      this.onEvent({ kind: 'refused', model, version: pointed, error });
    }
  }

  private watchPath(path: string): void {
    if (this.options.useFsWatch === false || this.watchers.has(path)) return;
    try {
      const watcher = watch(path, { persistent: false }, () => this.scheduleScan());
      // A deleted directory or an unsupported file system: the poll still covers it.
      watcher.on('error', () => {
        watcher.close();
        this.watchers.delete(path);
      });
      this.watchers.set(path, watcher);
    } catch {
      // No fs.watch here (ENOENT before the root exists, ENOSYS...): polling only.
    }
  }

  /** fs.watch fires several events per rename: one scan shortly after the last of them. */
  private scheduleScan(): void {
    if (this.stopped) return;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.scan();
    }, 25);
    this.debounce.unref();
  }
}
