// The options and the report of `embpress bench store`, and how the report's per-side results
// and store/Redis ratios are assembled from the load generator's phases (store.ts runs the bench).
import type { PhaseResult, RowCheck } from './store-load';

export type StoreEncoding = 'codes' | 'float32';

export interface StoreBenchOptions {
  rows: number;
  dim: number;
  batch: number;
  /** Calls in flight per side, each from its own loop. */
  concurrency: number;
  /** Connections per side the loops are spread over (StoreClient / ioredis instances). */
  connections: number;
  /** Seconds measured per target, in total (after a warm-up). */
  seconds: number;
  warmupSeconds: number;
  /** Targets take turns in this many rounds of seconds/rounds each. */
  rounds: number;
  /** Wire encoding of the rowwise-int8 table: its codes (client-side decode) or fp32. */
  encoding: StoreEncoding;
  seed: number;
  /** Where to look for redis-server (default: PATH, then /usr/bin). */
  redisServer?: string;
  /** When set, the store and the load generator write V8 CPU profiles (.cpuprofile) here. */
  profileDir?: string;
  log: (line: string) => void;
}

export interface SideResult {
  rowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  bytesPerRow: number;
  callsPerSec: number;
  calls: number;
  cores: Cores;
}

/** CPU seconds per wall second while measured (1 = one core busy). */
export interface Cores {
  /** The load-generator process. */
  client: number;
  /** The server process: the store, or redis-server. */
  server: number;
  /** Everything else on the machine (other work competing for the same cores). */
  other: number;
}

export interface Ratios {
  rowsPerSec: number;
  p99: number;
  bytesPerRow: number;
}

export interface StoreMemory {
  /** Store RSS before the version was loaded and after it was activated, each read after a
   * full garbage collection in the store (so that freed load buffers are not counted). */
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** The store's peak RSS so far (VmHWM), read after the load: a transient copy made while
   * loading shows here even once it is freed (a high-water mark over the whole run so far). */
  rssPeakBytes: number;
  /** Bytes of the table's own buffers, as the store reports them (LoadVersion memoryBytes). */
  tableBytes: number;
  /** Bytes of the version's table files (what the store reads, verifies and decodes). */
  fileBytes: number;
  /** Wall seconds of the LoadVersion call (read, SHA-256, section CRCs, decode). */
  loadSeconds: number;
  /** fileBytes / 2^30 / loadSeconds. */
  loadGiBPerSecond: number;
}

export interface StoreBenchReport {
  benchmark: 'store-vs-redis';
  date: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    redis: string;
    /** 1-minute load average before and after the run (other work on the machine). */
    loadAverage: { before: number; after: number };
  };
  args: Omit<StoreBenchOptions, 'log' | 'redisServer' | 'profileDir'>;
  /** The rowwise-int8 table (what `ratios` compare). */
  store: SideResult & { table: string; encoding: StoreEncoding };
  storeFull: SideResult & { table: string; encoding: StoreEncoding };
  redis: SideResult;
  /** store / redis, rowwise-int8 table. */
  ratios: Ratios;
  /** store / redis, full table. */
  ratiosFull: Ratios;
  /** What bytesPerRow was computed from. */
  memory: {
    storeInt8: StoreMemory;
    storeFull: StoreMemory;
    redis: {
      usedMemoryBeforeBytes: number;
      usedMemoryAfterBytes: number;
      /** RSS growth of redis-server / rows: the store's measure, for comparison. */
      rssBytesPerRow: number;
    };
  };
  /** Rows read back from both sides before the timed runs. */
  check: RowCheck;
}

export function side(
  phases: PhaseResult[],
  name: string,
  bytesPerRow: number,
  cores: (phase: string) => Cores,
): SideResult {
  const phase = phases.find((p) => p.name === name);
  if (phase === undefined) throw new Error(`load generator returned no result for ${name}`);
  if (phase.errors > 0)
    throw new Error(`${name}: ${phase.errors} calls failed, the first with: ${phase.firstError}`);
  if (phase.calls === 0) throw new Error(`${name}: no call completed`);
  return {
    rowsPerSec: phase.rowsPerSec,
    p50Ms: phase.p50Ms,
    p99Ms: phase.p99Ms,
    bytesPerRow,
    callsPerSec: phase.callsPerSec,
    calls: phase.calls,
    cores: cores(name),
  };
}

export function ratios(a: SideResult, b: SideResult): Ratios {
  return {
    rowsPerSec: a.rowsPerSec / b.rowsPerSec,
    p99: a.p99Ms / b.p99Ms,
    bytesPerRow: a.bytesPerRow / b.bytesPerRow,
  };
}
