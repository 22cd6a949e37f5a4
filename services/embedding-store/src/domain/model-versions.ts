// The store's model versions: loaded (verified, decoded, held in memory) and active (served).
// Activation is atomic per model: a request pins one version for all of its tables (a lease), and
// a replaced version is dropped once the last request holding it is done.
import { registry as codecs, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir, type Manifest } from '@embpress/model-registry';

export interface LoadedVersion {
  readonly model: string;
  readonly version: string;
  readonly manifest: Manifest;
  readonly tables: ReadonlyMap<string, CompressedTable>;
  /** Checksum (sha256) of each table's artifact file. */
  readonly checksums: ReadonlyMap<string, string>;
}

/** A request's hold on one version of a model; release it when the request is done. */
export interface Lease {
  readonly version: LoadedVersion;
  release(): void;
}

interface Entry {
  loaded: LoadedVersion;
  leases: number;
  /** Was active and has been replaced: dropped as soon as no request holds it. */
  retired: boolean;
}

export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
}

export class ModelVersions {
  private readonly entries = new Map<string, Map<string, Entry>>();
  private readonly active = new Map<string, string>();

  constructor(private readonly dir: ModelRegistryDir) {}

  /**
   * Reads, verifies and decodes every table of a version (throws ModelVersionError or
   * ArtifactError when anything is missing or corrupt). Idempotent.
   */
  load(model: string, version: string): LoadedVersion {
    const existing = this.entries.get(model)?.get(version);
    if (existing !== undefined) return existing.loaded;
    const read = this.dir.readVersion(model, version);
    const tables = new Map<string, CompressedTable>();
    const checksums = new Map<string, string>();
    for (const entry of read.manifest.tables) {
      const table = codecs.load(read.tables.get(entry.name) as Uint8Array);
      tables.set(entry.name, table);
      checksums.set(entry.name, entry.sha256);
    }
    const loaded: LoadedVersion = { model, version, manifest: read.manifest, tables, checksums };
    let versions = this.entries.get(model);
    if (versions === undefined) {
      versions = new Map();
      this.entries.set(model, versions);
    }
    versions.set(version, { loaded, leases: 0, retired: false });
    return loaded;
  }

  /**
   * Serves `version` for `model` from now on, persisting the choice (unless `persist` is false:
   * the watch mode follows a pointer that is already written). Returns the previous one.
   */
  activate(
    model: string,
    version: string,
    { persist = true }: { persist?: boolean } = {},
  ): string | undefined {
    if (this.entries.get(model)?.get(version) === undefined)
      throw new UnknownModelError(`${model}/${version} is not loaded: LoadVersion first`);
    const previous = this.active.get(model);
    if (persist) this.dir.setActiveVersion(model, version);
    this.active.set(model, version);
    const entry = this.entries.get(model)?.get(version) as Entry;
    entry.retired = false;
    if (previous !== undefined && previous !== version) {
      const old = this.entries.get(model)?.get(previous);
      if (old !== undefined) old.retired = true;
      this.dropIfRetired(model, previous);
    }
    return previous;
  }

  /**
   * Loads and activates the persisted active version of every model (after a restart). When it
   * no longer verifies (say a corrupt version was published while this store refused it in watch
   * mode), the pointer's previous version is served instead, if that one verifies: a bad version
   * never replaces a good one, not even across a restart. Every version that could not be loaded
   * is reported in `failed`; a model with none loadable is not served.
   */
  restore(): {
    restored: Array<{ model: string; version: string; fallback?: true }>;
    failed: Array<{ model: string; version?: string; error: unknown }>;
  } {
    const restored: Array<{ model: string; version: string; fallback?: true }> = [];
    const failed: Array<{ model: string; version?: string; error: unknown }> = [];
    for (const model of this.dir.models()) {
      let version: string | undefined;
      try {
        version = this.dir.activeVersion(model);
        if (version === undefined) continue;
        this.load(model, version);
        this.active.set(model, version);
        restored.push({ model, version });
        continue;
      } catch (error) {
        failed.push({ model, ...(version === undefined ? {} : { version }), error });
      }
      const previous = this.dir.previousVersion(model);
      if (previous === undefined || previous === version) continue;
      try {
        this.load(model, previous);
        this.active.set(model, previous);
        restored.push({ model, version: previous, fallback: true });
      } catch (error) {
        failed.push({ model, version: previous, error });
      }
    }
    return { restored, failed };
  }

  activeVersion(model: string): string | undefined {
    return this.active.get(model);
  }

  /** Pins the active version of `model` (or an explicitly requested loaded version). */
  acquire(model: string, version?: string): Lease {
    const name = version ?? this.active.get(model);
    if (name === undefined) throw new UnknownModelError(`model "${model}" has no active version`);
    const entry = this.entries.get(model)?.get(name);
    if (entry === undefined) throw new UnknownModelError(`${model}/${name} is not loaded`);
    entry.leases += 1;
    let released = false;
    return {
      version: entry.loaded,
      release: () => {
        if (released) return;
        released = true;
        entry.leases -= 1;
        this.dropIfRetired(model, name);
      },
    };
  }

  /** Every loaded version (active or not), for DescribeTables. */
  list(model?: string): Array<{ loaded: LoadedVersion; active: boolean }> {
    const out: Array<{ loaded: LoadedVersion; active: boolean }> = [];
    for (const [name, versions] of this.entries) {
      if (model !== undefined && name !== model) continue;
      for (const [version, entry] of versions)
        out.push({ loaded: entry.loaded, active: this.active.get(name) === version });
    }
    return out;
  }

  private dropIfRetired(model: string, version: string): void {
    const versions = this.entries.get(model);
    const entry = versions?.get(version);
    if (entry !== undefined && entry.retired && entry.leases === 0) versions?.delete(version);
  }
}
