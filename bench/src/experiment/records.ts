// What `embpress experiment` writes and `embpress report` reads: DIR/results.jsonl, one RunRecord
// per finished run (a run = dataset × method × budget × seed), and DIR/environment.json.
// Appends are atomic (the whole file rewritten to a temporary file, then renamed over it), so a
// kill -9 at any moment leaves the file with every finished run once and nothing cut.
import {
  existsSync,
  readFileSync,
  renameSync,
  writeFileSync,
  fsyncSync,
  openSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';

/** One part of a training run (libs/training's PartProgress, the fields a loss curve needs). */
export interface PartPoint {
  stage: string;
  part: number;
  loss: number;
  trainAuc: number;
  valAuc: number;
  valLogloss: number;
  samplesTrained: number;
  elapsedSeconds: number;
}

/** A span breakdown row: one component's percentiles over the measured Rank requests. */
export interface ComponentTimes {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export interface ServingResult {
  /** Open-loop Rank load of the same settings for every run. */
  ratePerSec: number;
  durationSec: number;
  candidates: number;
  achievedRate: number;
  completed: number;
  errors: number;
  dropped: number;
  rankP50Ms: number;
  rankP99Ms: number;
  /** The store's BatchLookup (server span) p99 over the measured window. */
  storeLookupP99Ms: number;
  /** The store's bytes per row of the served table (DescribeTables: memory bytes / rows). */
  storeBytesPerRow: number;
  /** Where a Rank's time went (traces summarize's components), measured window only. */
  breakdown: Record<string, ComponentTimes>;
}

export type RunStatus = 'ok' | 'unreachable' | 'failed';

export interface RunRecord {
  /** dataset|method|budget|seed: what resume skips. */
  key: string;
  /** The --data entry (`synthetic`, `criteo:PATH`, ...) and its short name for plots. */
  data: string;
  dataset: string;
  method: string;
  /** null: the method is the fp32 reference (`full`) and takes no budget. */
  budget: number | null;
  seed: number;
  status: RunStatus;
  /** Why the run is unreachable or failed. */
  error?: string;
  /** The canonical spec trained (ok runs). */
  spec?: string;
  valAuc?: number;
  valLogloss?: number;
  testAuc?: number;
  testLogloss?: number;
  memoryBytes?: number;
  fullBytes?: number;
  /** memoryBytes / fullBytes. */
  ratio?: number;
  /**
   * memoryBytes ≤ budget × fullBytes; null without a budget. False for a method that is not
   * budget-driven (a codec's fixed size) or cannot shrink that far.
   */
  withinBudget?: boolean | null;
  /** The paper's accounting in 32-bit words, of this table and of the fp32 table. */
  paperWords?: number;
  fullPaperWords?: number;
  trainSeconds?: number;
  samplesPerSec?: number;
  /** Peak resident set of the run's training process (its own child). */
  peakRssBytes?: number;
  parts?: PartPoint[];
  /** null when the run was not served (serving off, or it failed: servingError). */
  serving?: ServingResult | null;
  servingError?: string;
  startedAt: string;
  wallSeconds: number;
}

export interface Environment {
  date: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    platform: string;
    arch: string;
    hostname: string;
  };
  versions: { node: string; embpress: string; commit: string | null; v8: string };
  settings: Record<string, unknown>;
}

export const RESULTS_FILE = 'results.jsonl';
export const ENVIRONMENT_FILE = 'environment.json';

export function runKey(data: string, method: string, budget: number | null, seed: number): string {
  return `${data}|${method}|${budget ?? 'none'}|${seed}`;
}

/** The records of a results file; a line that does not parse (never written by us) is refused. */
export function readRecords(file: string): RunRecord[] {
  if (!existsSync(file)) return [];
  const records: RunRecord[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        throw new Error(`${file}:${i + 1}: not a JSON line`);
      }
      const r = record as Partial<RunRecord>;
      if (typeof r.key !== 'string' || typeof r.status !== 'string' || typeof r.method !== 'string')
        throw new Error(`${file}:${i + 1}: not a run record (key, method, status)`);
      records.push(r as RunRecord);
    });
  return records;
}

/** Writes `text` to `file` atomically: a temporary file beside it, fsynced, then renamed. */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Appends one record (the file rewritten whole: atomic, see above). */
export function appendRecord(dir: string, record: RunRecord): void {
  const file = join(dir, RESULTS_FILE);
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const sep = before === '' || before.endsWith('\n') ? '' : '\n';
  writeAtomic(file, `${before}${sep}${JSON.stringify(record)}\n`);
}

export function readEnvironment(dir: string): Environment | null {
  const file = join(dir, ENVIRONMENT_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Environment) : null;
}
