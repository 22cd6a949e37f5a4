// What the report shows, computed once from the results (the HTML page and report.md both draw
// from it): runs grouped by dataset, each dataset's quality/memory Pareto frontier, the method
// taxonomy of the registry, and the environment the experiment ran in.
import { registry } from '@embpress/compression';
import type { Environment, RunRecord } from '../experiment/records';

export interface TaxonomyRow {
  id: string;
  kind: string;
  family: string;
  scope: string;
  subClass: string;
  title: string;
  paper: string;
}

export interface DatasetView {
  name: string;
  /** Every run of the dataset, ok or not. */
  runs: RunRecord[];
  /** Keys of the ok runs on the frontier: no other run is as small and better (test AUC). */
  frontier: string[];
}

export interface ReportModel {
  title: string;
  generatedAt: string;
  source: string;
  environment: Environment | null;
  runs: RunRecord[];
  datasets: DatasetView[];
  taxonomy: TaxonomyRow[];
}

/** A run with the numbers a quality/memory plot needs. */
export function plotted(r: RunRecord): r is RunRecord & { memoryBytes: number; testAuc: number } {
  return (
    r.status === 'ok' &&
    typeof r.memoryBytes === 'number' &&
    r.memoryBytes > 0 &&
    typeof r.testAuc === 'number' &&
    Number.isFinite(r.testAuc)
  );
}

/**
 * The served run's Rank latencies, or undefined when no Rank completed (every call failed, e.g.
 * past its deadline): a p99 over no calls is not a latency.
 */
export function rankLatency(r: RunRecord): { p50Ms: number; p99Ms: number } | undefined {
  const s = r.serving;
  return s == null || s.completed === 0 ? undefined : { p50Ms: s.rankP50Ms, p99Ms: s.rankP99Ms };
}

/** `completed/sent` Ranks of the measured window (`-` when the run was not served). */
export function rankCompleted(r: RunRecord): string {
  const s = r.serving;
  return s == null ? '-' : `${s.completed}/${s.completed + s.errors + s.dropped}`;
}

/**
 * The Pareto frontier of (memory ↓, test AUC ↑): by memory ascending (better AUC first among
 * equal memory), a run is on it when its AUC beats every smaller run's.
 */
export function paretoFrontier(runs: readonly RunRecord[]): string[] {
  const points = runs
    .filter(plotted)
    .sort((a, b) => a.memoryBytes - b.memoryBytes || b.testAuc - a.testAuc);
  const out: string[] = [];
  let best = -Infinity;
  for (const p of points)
    if (p.testAuc > best) {
      best = p.testAuc;
      out.push(p.key);
    }
  return out;
}

export function taxonomy(): TaxonomyRow[] {
  return registry.list().map((m) => ({
    id: m.id,
    kind: m.kind,
    family: m.family,
    scope: m.taxonomy.scope,
    subClass: m.taxonomy.subClass,
    title: m.title,
    paper: m.paper,
  }));
}

/** The run's label in legends and tables: `qr@0.1`, `full`. */
export function runLabel(r: RunRecord): string {
  const seed = r.seed === 1 ? '' : ` s${r.seed}`;
  return `${r.method}${r.budget === null ? '' : `@${r.budget}`}${seed}`;
}

export function buildModel(
  runs: readonly RunRecord[],
  environment: Environment | null,
  source: string,
  now = new Date(),
): ReportModel {
  // A rerun of a run (a record written twice, e.g. by hand) shows once: the last one.
  const byKey = new Map<string, RunRecord>();
  for (const r of runs) byKey.set(r.key, r);
  const unique = [...byKey.values()];
  const names = [...new Set(unique.map((r) => r.dataset))];
  return {
    title: `embpress experiment: ${unique.length} runs on ${names.join(', ') || 'no data'}`,
    generatedAt: now.toISOString(),
    source,
    environment,
    runs: unique,
    datasets: names.map((name) => {
      const of = unique.filter((r) => r.dataset === name);
      return { name, runs: of, frontier: paretoFrontier(of) };
    }),
    taxonomy: taxonomy(),
  };
}
