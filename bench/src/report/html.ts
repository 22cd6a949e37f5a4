// The report as one static HTML file that works offline: d3 and Observable Plot (npm packages of
// this project, docs/adr/0017-report-charts.md) are inlined into it, with the model as JSON;
// the tables are rendered here, the figures by the page's script (page-script.ts) in the browser.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord } from '../experiment/records';
import { formatBytes } from './markdown';
import { PAGE_SCRIPT } from './page-script';
import { rankCompleted, rankLatency, runLabel, type ReportModel } from './report-model';

/** An installed package's directory, found the way require looks for it from this file. */
function packageDir(name: string): string {
  for (const base of require.resolve.paths(name) ?? []) {
    const dir = join(base, name);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`package ${name} is not installed (npm ci)`);
}

/**
 * The browser bundles of the chart library and its one dependency, as shipped on npm: each
 * package's `unpkg` entry (its UMD build for a browser; neither package exports it to Node).
 */
function chartLibraries(): string[] {
  return ['d3', '@observablehq/plot'].map((name) => {
    const dir = packageDir(name);
    const { unpkg } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      unpkg?: string;
    };
    if (unpkg === undefined) throw new Error(`${name} names no browser bundle (unpkg)`);
    const text = readFileSync(join(dir, unpkg), 'utf8');
    // Inlined in a <script> element: a closing tag inside would end it early.
    if (/<\/script/i.test(text))
      throw new Error(`${name}/${unpkg} cannot be inlined: it holds </script`);
    return text;
  });
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside a <script> element (no `</script>`, no `<!--`). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const num = (v: number | undefined, digits: number) =>
  v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);

/** A cell with its sort value (the raw number) beside what it shows. */
function cell(shown: string, value?: number | string): string {
  const data =
    value === undefined || (typeof value === 'number' && !Number.isFinite(value))
      ? ''
      : ` data-value="${escapeHtml(String(value))}"`;
  return `<td${data}>${escapeHtml(shown)}</td>`;
}

const RUN_COLUMNS = [
  'dataset',
  'run',
  'status',
  'spec',
  'test AUC',
  'test logloss',
  'val AUC',
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
];

function runRow(r: RunRecord, frontier: boolean): string {
  const s = r.serving ?? undefined;
  return `<tr class="${r.status}${frontier ? ' frontier' : ''}" data-key="${escapeHtml(r.key)}">${[
    cell(r.dataset),
    cell(`${runLabel(r)}${frontier ? ' ★' : ''}`, runLabel(r)),
    cell(r.status === 'ok' ? 'ok' : `${r.status}: ${r.error ?? ''}`, r.status),
    cell(r.spec ?? '-'),
    cell(num(r.testAuc, 4), r.testAuc),
    cell(num(r.testLogloss, 4), r.testLogloss),
    cell(num(r.valAuc, 4), r.valAuc),
    cell(formatBytes(r.memoryBytes), r.memoryBytes),
    cell(`${num(r.ratio, 4)}${r.withinBudget === false ? ' (over)' : ''}`, r.ratio),
    cell(r.paperWords === undefined ? '-' : String(r.paperWords), r.paperWords),
    cell(num(r.trainSeconds, 1), r.trainSeconds),
    cell(num(r.samplesPerSec, 0), r.samplesPerSec),
    cell(formatBytes(r.peakRssBytes), r.peakRssBytes),
    cell(rankCompleted(r), s?.completed),
    cell(num(rankLatency(r)?.p50Ms, 2), rankLatency(r)?.p50Ms),
    cell(num(rankLatency(r)?.p99Ms, 2), rankLatency(r)?.p99Ms),
    cell(num(s?.storeLookupP99Ms, 2), s?.storeLookupP99Ms),
    cell(num(s?.storeBytesPerRow, 1), s?.storeBytesPerRow),
  ].join('')}</tr>`;
}

/** Where a Rank's time went, per served run: each component's p50 / p99 (traces summarize). */
function breakdownTable(runs: RunRecord[], id: string): string {
  const served = runs.filter(
    (r) => r.serving != null && Object.keys(r.serving.breakdown).length > 0,
  );
  if (served.length === 0) return '';
  const components = [...new Set(served.flatMap((r) => Object.keys(r.serving?.breakdown ?? {})))];
  const head = ['run', ...components].map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const rows = served
    .map((r) => {
      const b = r.serving?.breakdown ?? {};
      return `<tr>${cell(runLabel(r))}${components
        .map((c) => {
          const t = b[c];
          return t === undefined
            ? cell('-')
            : cell(`${t.p50Ms.toFixed(2)} / ${t.p99Ms.toFixed(2)}`, t.p50Ms);
        })
        .join('')}</tr>`;
    })
    .join('\n');
  return `<h3>Where a Rank's time goes (p50 / p99 ms per request, from the run's spans)</h3>
<table class="sortable breakdown" id="${id}"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function environmentSection(model: ReportModel): string {
  const env = model.environment;
  const items: [string, string][] = [
    ['report written', model.generatedAt],
    ['results', model.source],
  ];
  if (env !== null)
    items.push(
      ['experiment date', env.date],
      ['command', env.command],
      [
        'machine',
        `${env.machine.cpus} × ${env.machine.cpuModel}, ${formatBytes(env.machine.memoryBytes)} memory, ${env.machine.platform}/${env.machine.arch} (${env.machine.hostname})`,
      ],
      [
        'versions',
        `embpress ${env.versions.embpress}${env.versions.commit === null ? '' : ` at ${env.versions.commit}`}, Node ${env.versions.node}, V8 ${env.versions.v8}`,
      ],
      ['settings', JSON.stringify(env.settings)],
    );
  return `<dl id="environment">${items.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 20px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 20px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; } th[data-sort=asc]::after { content: ' ▲'; } th[data-sort=desc]::after { content: ' ▼'; }
td:nth-child(-n+4) { text-align: left; } tr.unreachable, tr.failed { color: #999; } tr.frontier td:nth-child(2) { font-weight: 600; }
figure { margin: 16px 0 28px; } figcaption { font-weight: 600; margin-bottom: 4px; } .empty { color: #999; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; } dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
`;

export function renderHtml(model: ReportModel): string {
  const [d3, plot] = chartLibraries();
  const frontier = new Set(model.datasets.flatMap((d) => d.frontier));
  const datasets = model.datasets
    .map(
      (d, i) => `<section class="dataset" id="dataset-${i}"><h2>${escapeHtml(d.name)}</h2>
<p>${d.runs.length} runs: ${d.runs.filter((r) => r.status === 'ok').length} trained, ${d.runs.filter((r) => r.status === 'unreachable').length} unreachable budgets, ${d.runs.filter((r) => r.status === 'failed').length} failed.</p>
<div class="figures" id="figures-${i}"></div>
${breakdownTable(d.runs, `breakdown-${i}`)}
</section>`,
    )
    .join('\n');
  const taxonomy = model.taxonomy
    .map(
      (t) =>
        `<tr>${[t.id, t.kind, t.family, t.scope, t.subClass, t.title, t.paper].map((v) => cell(v)).join('')}</tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(model.title)}</title>
<style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(model.title)}</h1>
<p>Every figure and table below is drawn from <code>${escapeHtml(model.source)}</code>; this file needs no network. Click a table header to sort.</p>
${datasets}
<h2>Every run</h2>
<table class="sortable" id="runs"><thead><tr>${RUN_COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${model.runs.map((r) => runRow(r, frontier.has(r.key))).join('\n')}
</tbody></table>
<h2>Method taxonomy</h2>
<table class="sortable" id="taxonomy"><thead><tr>${['id', 'kind', 'family', 'scope', 'sub-class', 'title', 'paper'].map((c) => `<th>${c}</th>`).join('')}</tr></thead>
<tbody>${taxonomy}</tbody></table>
<h2>Environment</h2>
${environmentSection(model)}
<script id="report-data" type="application/json">${scriptJson(model)}</script>
<script>${d3}</script>
<script>${plot}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
