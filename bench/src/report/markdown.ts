// report.md: the report for terminals and CI logs. Per dataset, the runs by memory (frontier
// runs marked), their quality, training and serving numbers, then the runs that could not reach
// their budget or failed, and the environment.
import type { RunRecord } from '../experiment/records';
import { rankCompleted, rankLatency, runLabel, type ReportModel } from './report-model';

const fixed = (v: number | undefined, digits: number) =>
  v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);

/** 1234567 → `1.18 MiB`. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${u === 0 ? String(v) : v.toFixed(2)} ${units[u]}`;
}

function row(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

function runRow(r: RunRecord, frontier: Set<string>): string {
  return row([
    `${runLabel(r)}${frontier.has(r.key) ? ' *' : ''}`,
    r.spec ?? r.method,
    fixed(r.testAuc, 4),
    fixed(r.testLogloss, 4),
    formatBytes(r.memoryBytes),
    `${fixed(r.ratio, 4)}${r.withinBudget === false ? ' (over budget)' : ''}`,
    r.paperWords === undefined ? '-' : String(r.paperWords),
    fixed(r.trainSeconds, 1),
    r.samplesPerSec === undefined ? '-' : String(Math.round(r.samplesPerSec)),
    formatBytes(r.peakRssBytes),
    rankCompleted(r),
    fixed(rankLatency(r)?.p50Ms, 2),
    fixed(rankLatency(r)?.p99Ms, 2),
    fixed(r.serving?.storeLookupP99Ms, 2),
    fixed(r.serving?.storeBytesPerRow, 1),
  ]);
}

export function renderMarkdown(model: ReportModel): string {
  const out: string[] = [`# ${model.title}`, ''];
  out.push(`Results: \`${model.source}\`; report written ${model.generatedAt}.`, '');
  for (const d of model.datasets) {
    const frontier = new Set(d.frontier);
    const ok = d.runs
      .filter((r) => r.status === 'ok')
      .sort((a, b) => (a.memoryBytes ?? 0) - (b.memoryBytes ?? 0));
    out.push(`## ${d.name}`, '');
    out.push(
      `${ok.length} runs trained; * = on the AUC/memory frontier (no smaller run has a better test AUC).`,
      '',
    );
    out.push(
      row([
        'run',
        'spec',
        'test AUC',
        'test logloss',
        'bytes',
        'ratio',
        'paper words',
        'train s',
        'samples/s',
        'peak RSS',
        'Ranks ok',
        'Rank p50 ms',
        'Rank p99 ms',
        'store p99 ms',
        'store B/row',
      ]),
    );
    out.push(row(Array.from({ length: 15 }, () => '---')));
    for (const r of ok) out.push(runRow(r, frontier));
    const other = d.runs.filter((r) => r.status !== 'ok');
    if (other.length > 0) {
      out.push('', 'Not trained:', '');
      for (const r of other)
        out.push(`- ${runLabel(r)}: ${r.status}${r.error ? ` (${r.error})` : ''}`);
    }
    const unserved = ok.filter((r) => r.serving == null && r.servingError !== undefined);
    for (const r of unserved) out.push(`- ${runLabel(r)}: serving failed (${r.servingError})`);
    out.push('');
  }
  const env = model.environment;
  if (env !== null) {
    out.push('## Environment', '');
    out.push(`- date: ${env.date}`);
    out.push(`- command: \`${env.command}\``);
    out.push(
      `- machine: ${env.machine.cpus} × ${env.machine.cpuModel}, ${formatBytes(env.machine.memoryBytes)}, ${env.machine.platform}/${env.machine.arch}`,
    );
    out.push(
      `- versions: embpress ${env.versions.embpress}${env.versions.commit === null ? '' : ` (${env.versions.commit})`}, Node ${env.versions.node}`,
    );
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
