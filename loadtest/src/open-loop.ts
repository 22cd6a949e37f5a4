// An open-loop load runner with a constant arrival rate, the model of k6's
// `constant-arrival-rate` executor: request i is due at t0 + i/rate whether or not earlier
// requests have finished, and its latency is measured from that due time, not from when the
// event loop got round to sending it. A closed loop (send, wait, send) slows down with the server
// and hides the queueing it causes ("coordinated omission"); this one does not.
import { InvalidArgumentError } from '@embpress/service-kit';
import { LatencyRecorder } from './latency-recorder';

export interface OpenLoopOptions {
  /** Arrivals per second (> 0). */
  ratePerSec: number;
  /** Length of the measured window in seconds (> 0). */
  durationSec: number;
  /** Seconds of arrivals sent before the measured window and not counted (default 0). */
  warmupSec?: number;
  /**
   * Most calls outstanding at once (default 1000). A request that falls due while this many are
   * outstanding is not sent: it is counted in `dropped` (k6 counts these as dropped_iterations).
   */
  maxInFlight?: number;
}

export interface OpenLoopResult {
  /** Measured requests handed to `call` (= completed + errors). */
  sent: number;
  /** Measured requests whose promise resolved. */
  completed: number;
  /** Measured requests whose promise rejected (or whose call threw). */
  errors: number;
  /** Errors by gRPC status name (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, ...) or `ERROR`. */
  errorCodes: Record<string, number>;
  /** Measured requests not sent because `maxInFlight` calls were outstanding. */
  dropped: number;
  /**
   * Completed requests per second over the measured window: from its start to the later of its
   * scheduled end and the last measured completion (so a server that falls behind lowers it).
   */
  achievedRate: number;
  /** Latency percentiles in milliseconds over completed measured requests (0 when none). */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 1000;

// The gRPC status codes by number (grpc/doc/statuscodes.md); fixed by the protocol.
const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** The name an error is counted under: its gRPC status name when it carries one, else `ERROR`. */
export function errorCodeName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && Number.isInteger(code)) {
    return GRPC_STATUS_NAMES[code] ?? 'ERROR';
  }
  return 'ERROR';
}

function validate(options: OpenLoopOptions): Required<OpenLoopOptions> {
  const { ratePerSec, durationSec } = options;
  const warmupSec = options.warmupSec ?? 0;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) {
    throw new InvalidArgumentError('ratePerSec', `must be a positive number, got ${ratePerSec}`);
  }
  if (!Number.isFinite(durationSec) || durationSec <= 0) {
    throw new InvalidArgumentError('durationSec', `must be a positive number, got ${durationSec}`);
  }
  if (!Number.isFinite(warmupSec) || warmupSec < 0) {
    throw new InvalidArgumentError('warmupSec', `must be ≥ 0, got ${warmupSec}`);
  }
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new InvalidArgumentError('maxInFlight', `must be an integer ≥ 1, got ${maxInFlight}`);
  }
  return { ratePerSec, durationSec, warmupSec, maxInFlight };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * Calls `call(i)` for i = 0, 1, ... at `ratePerSec`, first for `warmupSec` (not counted) and then
 * for `durationSec` (counted), waits for every outstanding call, and summarises the measured ones.
 * Calls should carry their own deadline: the runner waits for each to settle.
 */
export async function runOpenLoop(
  call: (i: number) => Promise<void>,
  options: OpenLoopOptions,
): Promise<OpenLoopResult> {
  const { ratePerSec, durationSec, warmupSec, maxInFlight } = validate(options);
  const warmupCount = Math.round(warmupSec * ratePerSec);
  const measuredCount = Math.max(1, Math.round(durationSec * ratePerSec));
  const total = warmupCount + measuredCount;
  const intervalMs = 1000 / ratePerSec;

  const latencies = new LatencyRecorder(measuredCount);
  const errorCodes: Record<string, number> = {};
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let dropped = 0;
  let inFlight = 0;
  let lastMeasuredSettle = 0;
  const outstanding = new Set<Promise<void>>();

  const t0 = performance.now();
  const dueAt = (i: number): number => t0 + i * intervalMs;
  const measureStart = dueAt(warmupCount);

  const fire = (i: number): void => {
    const measured = i >= warmupCount;
    if (inFlight >= maxInFlight) {
      if (measured) dropped += 1;
      return;
    }
    inFlight += 1;
    if (measured) sent += 1;
    const scheduled = dueAt(i);
    let pending: Promise<void>;
    try {
      pending = call(i);
    } catch (err) {
      pending = Promise.reject(err);
    }
    const settled = pending.then(
      () => {
        inFlight -= 1;
        if (!measured) return;
        const now = performance.now();
        completed += 1;
        lastMeasuredSettle = Math.max(lastMeasuredSettle, now);
        latencies.record(now - scheduled);
      },
      (err: unknown) => {
        inFlight -= 1;
        if (!measured) return;
        errors += 1;
        lastMeasuredSettle = Math.max(lastMeasuredSettle, performance.now());
        const name = errorCodeName(err);
        errorCodes[name] = (errorCodes[name] ?? 0) + 1;
      },
    );
    outstanding.add(settled);
    void settled.finally(() => outstanding.delete(settled));
  };

  // Fire everything that is due, then sleep until the next due time. When the event loop runs
  // late, the overdue requests go out together and their latency still counts from the due time.
  let next = 0;
  while (next < total) {
    const now = performance.now();
    while (next < total && dueAt(next) <= now) {
      fire(next);
      next += 1;
    }
    if (next < total) await sleep(dueAt(next) - performance.now());
  }
  while (outstanding.size > 0) await Promise.all([...outstanding]);

  const windowMs = Math.max(durationSec * 1000, lastMeasuredSettle - measureStart);
  return {
    sent,
    completed,
    errors,
    errorCodes,
    dropped,
    achievedRate: completed / (windowMs / 1000),
    p50Ms: latencies.percentile(0.5),
    p90Ms: latencies.percentile(0.9),
    p99Ms: latencies.percentile(0.99),
    maxMs: latencies.max(),
  };
}
