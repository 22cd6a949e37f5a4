// `embpress report RESULTS.jsonl --out DIR`: the experiment's results as DIR/index.html (static,
// offline: figures, the sortable table of every run, the method taxonomy, the environment) and
// DIR/report.md (the same numbers for terminals and CI logs).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '@embpress/service-kit/config';
import { BenchSetupError } from '../bench-setup-error';
import { readEnvironment, readRecords, writeAtomic } from '../experiment/records';
import { renderHtml } from './html';
import { renderMarkdown } from './markdown';
import { buildModel } from './report-model';

export const REPORT_USAGE = `usage: embpress report RESULTS.jsonl --out DIR
  Writes DIR/index.html (offline page: AUC vs memory with the Pareto frontier, serving p99 vs
  memory, training time, loss curves, every run, the method taxonomy, the environment) and
  DIR/report.md. The environment is read from environment.json beside RESULTS.jsonl.
`;

export interface WrittenReport {
  html: string;
  markdown: string;
  runs: number;
}

export function writeReport(resultsFile: string, outDir: string): WrittenReport {
  if (!existsSync(resultsFile)) throw new BenchSetupError(`report: no such file ${resultsFile}`);
  const runs = readRecords(resultsFile);
  const model = buildModel(runs, readEnvironment(dirname(resultsFile)), resolve(resultsFile));
  mkdirSync(outDir, { recursive: true });
  const html = join(outDir, 'index.html');
  const markdown = join(outDir, 'report.md');
  writeAtomic(html, renderHtml(model));
  writeAtomic(markdown, renderMarkdown(model));
  return { html, markdown, runs: model.runs.length };
}

export async function reportCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write(REPORT_USAGE);
    return;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0)
    throw new UsageError(`report takes one RESULTS.jsonl, got ${positionals.length}`);
  if (values.out === undefined) throw new UsageError('report: --out DIR is required');
  const written = writeReport(file, values.out);
  process.stdout.write(`${written.runs} runs: ${written.html}, ${written.markdown}\n`);
}
