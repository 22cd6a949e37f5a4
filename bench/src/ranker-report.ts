// The options of `embpress bench ranker` and the report it prints (ranker-bench.ts runs it).
import type { OpenLoopResult } from '@embpress/loadtest';
import type { StageTimes } from './traces/stage-summary';

type ArchName = import('@embpress/training').ArchName;

export interface RankerBenchOptions {
  candidates: number;
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  /** Synthetic rows the demo model is trained on (its test split feeds the requests). */
  rows: number;
  method: string;
  /** Dense layer sizes of the demo DLRM: the reference's, or a smaller one (see ARCHITECTURES). */
  arch: ArchName;
  seed: number;
  /** Where the demo data and model are cached. */
  dir: string;
  pool: number;
  sample: number;
  deadlineMs: number;
  /** Writes the ranker's CPU profile (--cpu-prof) here. */
  profileDir?: string;
  /** EMBPRESS_RANKER_ROW_CACHE_BYTES of the ranker; undefined: its default. */
  rowCacheBytes?: number;
  /** How the load generator's requests carry candidates (default: columns). */
  requestForm?: 'rows' | 'columns';
  /** EMBPRESS_RANKER_WORKERS of the ranker; undefined: its default (the cores available). */
  workers?: number;
  log: (line: string) => void;
}

export interface RankerBenchReport extends OpenLoopResult {
  /** The first error message of each status seen during the run. */
  firstErrors: Record<string, string>;
  candidates: number;
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  maxScoreDiff: number;
  sampledRequests: number;
  model: {
    name: string;
    version: string;
    method: string;
    arch: ArchName;
    architecture: unknown;
    trainRows: number;
    testAuc: number | null;
  };
  /** Span durations of the measured window's requests, by stage. */
  stages: Record<string, StageTimes>;
  /** CPU seconds per second of the measured run, per process and for the whole machine. */
  cpu: { ranker: number; store: number; load: number; machine: number; cores: number };
  /**
   * CPU milliseconds per answered Rank (warm-up included), of the ranker and of the store: the CPU
   * seconds of each over the run / the Rank calls the ranker answered OK in that time (what the
   * failed ones cost, e.g. skipped past their deadline, is counted in). Null when none was answered.
   */
  cpuMsPerRequest: { ranker: number; store: number; answered: number } | null;
  /** EMBPRESS_RANKER_ROW_CACHE_BYTES given to the ranker (null: the ranker's default). */
  rowCacheBytes: number | null;
  /** How the requests carried candidates (RankRequest rows or columns). */
  requestForm: 'rows' | 'columns';
  /** EMBPRESS_RANKER_WORKERS given to the ranker (null: its default, the cores available). */
  workers: number | null;
  /**
   * Hot-row cache hits / (hits + misses) in distinct ids over the measured window; null when the
   * ranker ran without the cache (no cache attributes on its spans).
   */
  cacheHitRatio: number | null;
  cacheHits: number;
  cacheMisses: number;
  loadAverage: { before: number; after: number };
}
