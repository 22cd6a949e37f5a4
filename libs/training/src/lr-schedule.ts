// The learning-rate schedule (issue #12 item 4; docs/models.md#learning-rate-schedule): a factor
// of the base rates (dense `lr` and the rows' `sparseLr` alike) that is a pure function of the
// global step, so a resumed run (whose checkpoint holds the step) continues on the same curve.
//
//   warmup   step t < W: (t + 1) / W, linear from 1/W up to 1
//   then     p = (t − W) / (T − W), the share of the post-warmup steps already taken, in [0, 1)
//            constant 1; linear 1 − p; cosine ½ (1 + cos π p)
//
// T is the run's planned optimizer steps (epochs × batches per epoch): early stopping may end a
// run before the curve does. The factor stays > 0 for every t < T (p < 1), so the rate never
// becomes 0 inside the plan; steps past T keep the last factor.
export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export interface LrScheduleSpec {
  schedule: LrSchedule;
  /** Linear warmup steps W (0: none). */
  warmupSteps: number;
  /** Planned optimizer steps T of the run. */
  totalSteps: number;
}

/** The factor of the base learning rate at 0-based global step `step`. */
export function lrFactor(spec: LrScheduleSpec, step: number): number {
  const { schedule, warmupSteps: W } = spec;
  const T = Math.max(1, spec.totalSteps);
  const t = Math.min(Math.max(0, Math.floor(step)), T - 1);
  if (t < W) return (t + 1) / W;
  if (schedule === 'constant' || T <= W) return 1;
  const p = (t - W) / (T - W);
  return schedule === 'linear' ? 1 - p : 0.5 * (1 + Math.cos(Math.PI * p));
}

/** One line for the log, e.g. `lr schedule cosine over 1,000 steps, warmup 100`. */
export function describeLrSchedule(spec: LrScheduleSpec): string {
  const over = `over ${spec.totalSteps.toLocaleString('en-US')} steps`;
  const warm = spec.warmupSteps > 0 ? `, linear warmup ${spec.warmupSteps} steps` : '';
  return `lr schedule ${spec.schedule} ${over}${warm}`;
}
