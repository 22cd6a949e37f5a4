import { LatencyRecorder } from './latency-recorder';
import { errorCodeName, runOpenLoop } from './open-loop';

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('runOpenLoop on a fake clock', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function run(
    call: (i: number) => Promise<void>,
    options: Parameters<typeof runOpenLoop>[1],
  ): Promise<Awaited<ReturnType<typeof runOpenLoop>>> {
    const done = runOpenLoop(call, options);
    await jest.advanceTimersByTimeAsync(
      ((options.warmupSec ?? 0) + options.durationSec) * 1000 + 5000,
    );
    return done;
  }

  it('sends rate × (warmup + duration) calls in index order and counts only the measured ones', async () => {
    const calls: Array<{ i: number; at: number }> = [];
    const start = performance.now();
    const result = await run(
      async (i) => {
        calls.push({ i, at: performance.now() - start });
        await delay(3);
      },
      { ratePerSec: 100, durationSec: 1, warmupSec: 0.5 },
    );
    expect(calls.map((c) => c.i)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    // Arrivals keep the schedule: call i goes out at i × 10 ms.
    for (const { i, at } of calls) expect(at).toBeCloseTo(i * 10, 6);
    expect(result).toMatchObject({ sent: 100, completed: 100, errors: 0, dropped: 0 });
    expect(result.errorCodes).toEqual({});
    expect(result.achievedRate).toBeCloseTo(100, 6);
  });

  it('reports exact percentiles of a known delay distribution, measured from the due time', async () => {
    // Measured request j (= i − warmup) takes (j mod 100) + 1 ms: p50 = 50, p90 = 90, p99 = 99.
    const warmup = 20;
    const result = await run((i) => delay(i < warmup ? 500 : ((i - warmup) % 100) + 1), {
      ratePerSec: 200,
      durationSec: 1,
      warmupSec: 0.1,
    });
    expect(result.completed).toBe(200);
    expect(result.p50Ms).toBeCloseTo(50, 6);
    expect(result.p90Ms).toBeCloseTo(90, 6);
    expect(result.p99Ms).toBeCloseTo(99, 6);
    expect(result.maxMs).toBeCloseTo(100, 6);
  });

  it('drops arrivals beyond maxInFlight and counts them', async () => {
    // Every 10 ms a call that takes 35 ms, at most 2 outstanding: of each 4 arrivals, 2 find
    // both slots busy (at 20 and 30 ms the calls from 0 and 10 ms are still running).
    const sentIds: number[] = [];
    const result = await run(
      async (i) => {
        sentIds.push(i);
        await delay(35);
      },
      { ratePerSec: 100, durationSec: 1, maxInFlight: 2 },
    );
    expect(result.dropped).toBe(50);
    expect(result.sent).toBe(50);
    expect(result.completed).toBe(50);
    expect(sentIds.filter((i) => i % 4 === 2 || i % 4 === 3)).toEqual([]);
    expect(result.sent + result.dropped).toBe(100);
  });

  it('counts errors by gRPC status name, including calls that throw synchronously', async () => {
    const result = await run(
      (i) => {
        if (i % 10 === 0) throw new Error('sync failure');
        if (i % 10 === 1) return Promise.reject(Object.assign(new Error('down'), { code: 14 }));
        if (i % 10 === 2) return Promise.reject(Object.assign(new Error('slow'), { code: 4 }));
        return delay(1);
      },
      { ratePerSec: 100, durationSec: 1, warmupSec: 0.1 },
    );
    // Warmup is i = 0..9; the measured i = 10..109 hold 10 of each failing residue.
    expect(result).toMatchObject({ sent: 100, completed: 70, errors: 30, dropped: 0 });
    expect(result.errorCodes).toEqual({ ERROR: 10, UNAVAILABLE: 10, DEADLINE_EXCEEDED: 10 });
    expect(result.achievedRate).toBeCloseTo(70, 6);
  });

  it('lowers the achieved rate when responses arrive after the window', async () => {
    const result = await run(() => delay(1000), { ratePerSec: 10, durationSec: 1 });
    // The last arrival (at 0.9 s) completes at 1.9 s: 10 completions over 1.9 s.
    expect(result.completed).toBe(10);
    expect(result.achievedRate).toBeCloseTo(10 / 1.9, 6);
  });
});

describe('runOpenLoop on the real clock', () => {
  it('measures from the due time, so a stalled event loop shows up as latency', async () => {
    // Call 0 blocks the event loop for 100 ms. Calls 1..9 fall due meanwhile and go out late; a
    // closed-loop or send-time measurement would report them as fast.
    const result = await runOpenLoop(
      (i) => {
        if (i === 0) {
          const until = performance.now() + 100;
          while (performance.now() < until) {
            // busy: the stall under test
          }
        }
        return Promise.resolve();
      },
      { ratePerSec: 100, durationSec: 0.2 },
    );
    expect(result.completed).toBe(20);
    // Call 0 takes ≥ 100 ms; calls 1 and 2 (due at 10 and 20 ms) complete after ≥ 100 ms too.
    expect(result.maxMs).toBeGreaterThanOrEqual(99);
    expect(result.p90Ms).toBeGreaterThanOrEqual(79);
  });

  it('completes every call of a short run without drops', async () => {
    const result = await runOpenLoop(() => delay(5), { ratePerSec: 200, durationSec: 0.3 });
    expect(result).toMatchObject({ sent: 60, completed: 60, errors: 0, dropped: 0 });
    expect(result.p50Ms).toBeGreaterThanOrEqual(4);
    expect(result.p50Ms).toBeLessThanOrEqual(result.p99Ms);
    expect(result.p99Ms).toBeLessThanOrEqual(result.maxMs);
  });

  it('rejects bad options with the field named', async () => {
    const ok = (): Promise<void> => Promise.resolve();
    await expect(runOpenLoop(ok, { ratePerSec: 0, durationSec: 1 })).rejects.toThrow(/ratePerSec/);
    await expect(runOpenLoop(ok, { ratePerSec: 1, durationSec: -1 })).rejects.toThrow(
      /durationSec/,
    );
    await expect(
      runOpenLoop(ok, { ratePerSec: 1, durationSec: 1, warmupSec: Number.NaN }),
    ).rejects.toThrow(/warmupSec/);
    await expect(
      runOpenLoop(ok, { ratePerSec: 1, durationSec: 1, maxInFlight: 0.5 }),
    ).rejects.toThrow(/maxInFlight/);
  });
});

describe('errorCodeName', () => {
  it('names gRPC codes and falls back to ERROR', () => {
    expect(errorCodeName({ code: 14 })).toBe('UNAVAILABLE');
    expect(errorCodeName({ code: 8 })).toBe('RESOURCE_EXHAUSTED');
    expect(errorCodeName({ code: 99 })).toBe('ERROR');
    expect(errorCodeName({ code: 'ECONNRESET' })).toBe('ERROR');
    expect(errorCodeName(new Error('x'))).toBe('ERROR');
    expect(errorCodeName(null)).toBe('ERROR');
  });
});

describe('LatencyRecorder', () => {
  it('uses nearest rank over every sample and grows past its initial size', () => {
    const rec = new LatencyRecorder(16);
    for (let v = 1000; v >= 1; v -= 1) rec.record(v);
    expect(rec.size).toBe(1000);
    expect(rec.percentile(0.5)).toBe(500);
    expect(rec.percentile(0.99)).toBe(990);
    expect(rec.percentile(0.999)).toBe(999);
    expect(rec.percentile(1)).toBe(1000);
    expect(rec.max()).toBe(1000);
    rec.record(5000);
    expect(rec.max()).toBe(5000);
  });

  it('is 0 when empty and rejects percentiles outside (0, 1]', () => {
    const rec = new LatencyRecorder();
    expect(rec.percentile(0.5)).toBe(0);
    expect(rec.max()).toBe(0);
    expect(() => rec.percentile(0)).toThrow(RangeError);
  });
});
