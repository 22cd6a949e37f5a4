// What a model version, a model directory or one table artifact holds, verified the way the
// store verifies it before serving (manifest schema, every file's size and SHA-256, every
// artifact section's CRC, the method's own load): `embpress inspect`'s report. Reads only.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  dtypeOf,
  readArtifact,
  registry,
  type DType,
  type TableDescription,
} from '@embpress/compression';
import { ModelRegistryDir } from './registry-dir';

/** The table's own description, less the paper-word accounting, plus what its file holds. */
export type TableReport = Omit<TableDescription, 'paperWords' | 'notes'> & {
  name?: string;
  fileBytes: number;
  sha256?: string;
  sections: Array<{ name: string; dtype: DType; elements: number }>;
};

export type InspectReport =
  | { kind: 'artifact'; path: string; table: TableReport }
  | {
      kind: 'model-version';
      path: string;
      model: string;
      version: string;
      createdAt: string;
      tables: TableReport[];
      memoryBytes: number;
      fullBytes: number;
      /** The trainer's metrics, when the version came from the trainer. */
      metrics?: unknown;
    }
  | { kind: 'model'; path: string; model: string; active: string | null; versions: string[] };

/** A path that is none of the three things inspect reads. */
export class InspectError extends Error {}

function tableReport(bytes: Uint8Array): TableReport {
  // Parsed (and its section CRCs checked) once; the method loads from the parsed content.
  const content = readArtifact(bytes);
  const {
    paperWords: _words,
    notes: _notes,
    ...description
  } = registry.loadContent(content).describe();
  return {
    ...description,
    fileBytes: bytes.length,
    sections: [...content.sections].map(([name, array]) => ({
      name,
      dtype: dtypeOf(array),
      elements: array.length,
    })),
  };
}

export function inspectPath(path: string): InspectReport {
  const full = resolve(path);
  if (!existsSync(full)) throw new InspectError(`${path}: no such file or directory`);
  if (statSync(full).isFile())
    return { kind: 'artifact', path: full, table: tableReport(new Uint8Array(readFileSync(full))) };
  if (existsSync(join(full, 'manifest.json'))) {
    const version = basename(full);
    const model = basename(dirname(full));
    const loaded = new ModelRegistryDir(dirname(dirname(full))).readVersion(model, version);
    // readVersion returned every manifest table's verified bytes.
    const tables = loaded.manifest.tables.map((t) => ({
      name: t.name,
      ...tableReport(loaded.tables.get(t.name) ?? new Uint8Array()),
      sha256: t.sha256,
    }));
    const memoryBytes = tables.reduce((s, t) => s + t.memoryBytes, 0);
    const fullBytes = tables.reduce((s, t) => s + t.rows * t.dim * 4, 0);
    const metrics = (loaded.manifest as Record<string, unknown>).metrics;
    return {
      kind: 'model-version',
      path: full,
      model,
      version,
      createdAt: loaded.manifest.createdAt,
      tables,
      memoryBytes,
      fullBytes,
      ...(metrics === undefined ? {} : { metrics }),
    };
  }
  const registryDir = new ModelRegistryDir(dirname(full));
  const model = basename(full);
  const versions = registryDir.versions(model).sort();
  if (versions.length === 0)
    throw new InspectError(
      `${path}: neither a table artifact, a model version (no manifest.json) nor a model directory (no versions)`,
    );
  return {
    kind: 'model',
    path: full,
    model,
    active: registryDir.activeVersion(model) ?? null,
    versions,
  };
}
