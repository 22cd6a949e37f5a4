// `embpress inspect PATH [--json]`: what a model version, a model directory or a table artifact
// holds, verified the way the store verifies it before serving (manifest schema, every file's size
// and SHA-256, every artifact section's CRC, the method's own load). A path that fails any check
// is reported with what failed (exit 1); nothing is ever written.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ArtifactError,
  dtypeOf,
  readArtifact,
  registry,
  SpecError,
  type DType,
  type TableDescription,
} from '@embpress/compression';
import { ModelRegistryDir, ModelVersionError } from '@embpress/model-registry';

export const INSPECT_USAGE = `usage:
  embpress inspect PATH [--json]
      PATH is a model version directory (<root>/<model>/<version>, with manifest.json), a model
      directory (<root>/<model>: its versions and the active one) or one table artifact (.emb).
      Everything is verified as the store verifies it before serving; a failed check exits 1.`;

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

class InspectError extends Error {}

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

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

function describeTableLine(t: TableReport): string {
  return `${t.name ?? 'table'}: ${t.spec}, ${t.rows} × ${t.dim}, ${mib(t.memoryBytes)} (${t.bytesPerRow.toFixed(2)} bytes/row, ${t.compressionRatio.toFixed(2)}× smaller than fp32)`;
}

function humanReport(r: InspectReport): string {
  switch (r.kind) {
    case 'artifact':
      return `${r.path}: verified\n  ${describeTableLine(r.table)}\n`;
    case 'model':
      return `${r.model}: versions ${r.versions.join(', ')}; active ${r.active ?? '(none)'}\n`;
    case 'model-version':
      return [
        `${r.model}/${r.version} (created ${r.createdAt}): verified, ${mib(r.memoryBytes)} of tables (fp32 ${mib(r.fullBytes)})`,
        ...r.tables.map((t) => `  ${describeTableLine(t)}`),
        ...(r.metrics === undefined ? [] : [`  metrics: ${JSON.stringify(r.metrics)}`]),
        '',
      ].join('\n');
  }
}

export function inspectCommand(args: string[]): void {
  let values: { json: boolean; help: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`embpress inspect: ${(err as Error).message}\n\n${INSPECT_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(`${INSPECT_USAGE}\n`);
    return;
  }
  const [path] = positionals;
  if (path === undefined || positionals.length !== 1) {
    process.stderr.write(`embpress inspect: give one PATH\n\n${INSPECT_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    const report = inspectPath(path);
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : humanReport(report));
  } catch (err) {
    if (
      err instanceof InspectError ||
      err instanceof ArtifactError ||
      err instanceof SpecError ||
      err instanceof ModelVersionError
    ) {
      process.stderr.write(`embpress inspect: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
