// `embpress inspect PATH [--json]`: what a model version, a model directory or a table artifact
// holds, verified the way the store verifies it before serving (manifest schema, every file's size
// and SHA-256, every artifact section's CRC, the method's own load). A path that fails any check
// is reported with what failed (exit 1); nothing is ever written.
import { parseArgs } from 'node:util';
import { ArtifactError, SpecError } from '@embpress/compression';
import {
  InspectError,
  inspectPath,
  ModelVersionError,
  type InspectReport,
  type TableReport,
} from '@embpress/model-registry';
import { UsageError } from '@embpress/service-kit/config';
import { anyOf, runCommand } from './command';

export const INSPECT_USAGE = `usage:
  embpress inspect PATH [--json]
      PATH is a model version directory (<root>/<model>/<version>, with manifest.json), a model
      directory (<root>/<model>: its versions and the active one) or one table artifact (.emb).
      Everything is verified as the store verifies it before serving; a failed check exits 1.`;

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

export function inspectCommand(args: string[]): Promise<void> {
  return runCommand(
    'inspect',
    INSPECT_USAGE,
    anyOf(InspectError, ArtifactError, SpecError, ModelVersionError),
    () => {
      const { values, positionals } = parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', default: false },
        },
      });
      if (values.help) {
        process.stdout.write(`${INSPECT_USAGE}\n`);
        return;
      }
      const [path] = positionals;
      if (path === undefined || positionals.length !== 1) throw new UsageError('give one PATH');
      const report = inspectPath(path);
      process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : humanReport(report));
    },
  );
}
