import { describeLrSchedule, lrFactor, type LrScheduleSpec } from './lr-schedule';

const spec = (s: Partial<LrScheduleSpec>): LrScheduleSpec => ({
  schedule: 'constant',
  warmupSteps: 0,
  totalSteps: 100,
  ...s,
});

describe('lrFactor', () => {
  it('is 1 everywhere for constant without warmup', () => {
    for (const t of [0, 1, 50, 99, 500]) expect(lrFactor(spec({}), t)).toBe(1);
  });

  it('warms up linearly from 1/W to 1, then follows the schedule', () => {
    const s = spec({ warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 50].map((t) => lrFactor(s, t))).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
    const c = spec({ schedule: 'cosine', warmupSteps: 10, totalSteps: 110 });
    expect(lrFactor(c, 4)).toBeCloseTo(0.5, 12);
    expect(lrFactor(c, 10)).toBe(1);
  });

  it('decays linearly over the post-warmup steps', () => {
    const s = spec({ schedule: 'linear', warmupSteps: 20, totalSteps: 120 });
    expect(lrFactor(s, 20)).toBe(1);
    expect(lrFactor(s, 70)).toBeCloseTo(0.5, 12);
    expect(lrFactor(s, 119)).toBeCloseTo(0.01, 12);
  });

  it('follows half a cosine, positive up to the last planned step', () => {
    const s = spec({ schedule: 'cosine', totalSteps: 100 });
    expect(lrFactor(s, 0)).toBe(1);
    expect(lrFactor(s, 50)).toBeCloseTo(0.5, 12);
    expect(lrFactor(s, 25)).toBeCloseTo(0.5 * (1 + Math.SQRT1_2), 12);
    expect(lrFactor(s, 99)).toBeGreaterThan(0);
    expect(lrFactor(s, 99)).toBeLessThan(0.001);
    // Past the plan (a fraction of an epoch rounded up, a resumed run) the last factor holds.
    expect(lrFactor(s, 1000)).toBe(lrFactor(s, 99));
    // Monotone non-increasing after warmup.
    for (let t = 1; t < 100; t += 1) expect(lrFactor(s, t)).toBeLessThanOrEqual(lrFactor(s, t - 1));
  });

  it('is 1 after warmup when the warmup covers the whole plan', () => {
    const s = spec({ schedule: 'cosine', warmupSteps: 200, totalSteps: 100 });
    expect(lrFactor(s, 0)).toBe(1 / 200);
    expect(lrFactor(s, 99)).toBe(100 / 200);
  });

  it('describes itself for the log', () => {
    expect(
      describeLrSchedule(spec({ schedule: 'cosine', warmupSteps: 50, totalSteps: 2000 })),
    ).toBe('lr schedule cosine over 2,000 steps, linear warmup 50 steps');
  });
});
