// Dense optimizer for the MLP weights (docs/methods/reference.md#optimizers): SGD, Adagrad
// (initial accumulator 0, ε 1e-7) and Adam (β1 .9, β2 .999, ε 1e-8, no weight decay), the same update formulas as the
// lazy sparse optimizer of libs/compression (so dense and sparse parts step alike). Written on
// tfjs ops rather than tf.train.* because those use other defaults (Adagrad starts at 0.1).
// `amsgrad` (the reference's fourth optimizer, docs/methods/reference.md#optimizers) is Adam whose
// denominator uses the running maximum of v instead of v: v̂max = max(v̂max, v), then
// w -= lr · (m / c1) / (sqrt(v̂max / c2) + ε), as the reference's framework computes it.
import * as tf from '@tensorflow/tfjs';
import { ModelConfigError, WeightsError } from './errors';
import { assignValues, updateVariable, valuesOf } from './wasm-memory';

export type DenseOptimizerKind = 'sgd' | 'adagrad' | 'adam';

export interface DenseOptimizerConfig {
  kind: DenseOptimizerKind;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adagrad's initial accumulator (reference: 0). */
  initialAccumulator?: number;
  /** Adam only: keep the running maximum of v and divide by it (AMSGrad). Default false. */
  amsgrad?: boolean;
}

interface Slots {
  m?: Slot;
  v?: Slot;
  vmax?: Slot;
}

/**
 * One optimizer state array: a tfjs variable on the tensorflow backend (the state stays on its
 * device), plain floats on wasm and cpu, where one fused loop per weight replaces the dozen tfjs
 * elementwise ops (and their intermediate tensors) of an update, and where the data-parallel
 * step updates a shard of the weights (docs/models.md#data-parallel-step).
 */
type Slot = tf.Variable | Float32Array;

const SLOT_KEYS = ['m', 'v', 'vmax'] as const;

export class DenseOptimizer {
  readonly kind: DenseOptimizerKind;
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly initialAccumulator: number;
  readonly amsgrad: boolean;
  private t = 0;
  private readonly slots: Slots[];
  /** Whether state and updates live in plain arrays (wasm, cpu) rather than tfjs variables. */
  private readonly fused: boolean;
  /** Number of weights (floats) of all params, one after another in the flat layout. */
  private readonly weightCount: number;
  /** The weighted sum of more than two gradient parts (applySum; made on first use). */
  private summed: Float32Array | undefined;
  /** Per weight, the array its fused update is computed in (made on first use). */
  private readonly scratches: Float32Array[] = [];

  private scratch(i: number, size: number): Float32Array {
    let s = this.scratches[i];
    if (s === undefined) {
      s = new Float32Array(size);
      this.scratches[i] = s;
    }
    return s;
  }

  constructor(
    config: DenseOptimizerConfig,
    private readonly params: readonly { name: string; variable: tf.Variable }[],
  ) {
    if (!['sgd', 'adagrad', 'adam'].includes(config.kind))
      throw new ModelConfigError(
        `optimizer.kind must be sgd, adagrad or adam, got ${JSON.stringify(config.kind)}`,
      );
    if (!(Number.isFinite(config.lr) && config.lr > 0))
      throw new ModelConfigError(`optimizer.lr must be a finite number > 0, got ${config.lr}`);
    this.kind = config.kind;
    this.lr = config.lr;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.eps = config.eps ?? (config.kind === 'adagrad' ? 1e-7 : 1e-8);
    this.initialAccumulator = config.initialAccumulator ?? 0;
    if (config.amsgrad === true && config.kind !== 'adam')
      throw new ModelConfigError(`amsgrad needs the adam optimizer, got ${config.kind}`);
    this.amsgrad = config.amsgrad === true;
    this.fused = tf.getBackend() !== 'tensorflow';
    this.weightCount = params.reduce((n, p) => n + p.variable.size, 0);
    const slot = (variable: tf.Variable, fill: number): Slot =>
      this.fused
        ? new Float32Array(variable.size).fill(fill)
        : tf.variable(tf.fill(variable.shape, fill), false);
    // Slots are made up front so a training step never changes the number of live tensors.
    this.slots = params.map(({ variable }) => {
      if (this.kind === 'adam')
        return {
          m: slot(variable, 0),
          v: slot(variable, 0),
          ...(this.amsgrad ? { vmax: slot(variable, 0) } : {}),
        };
      if (this.kind === 'adagrad') return { v: slot(variable, this.initialAccumulator) };
      return {};
    });
  }

  /** Steps taken (Adam's bias-correction counter). */
  get step(): number {
    return this.t;
  }

  /** One update of every parameter from its gradient (grads in the order of `params`). */
  apply(grads: readonly tf.Tensor[]): void {
    if (grads.length !== this.params.length)
      throw new Error(`optimizer: ${grads.length} gradients for ${this.params.length} parameters`);
    if (this.fused) {
      // Weight i's gradient as its own part (a view of wasm memory, taken inside the update).
      this.applyFused((i, lo, hi) => {
        const g0 = valuesOf(grads[i] as tf.Tensor).subarray(lo, hi);
        return { g0, a0: 1, g1: g0, a1: 0 };
      });
      return;
    }
    this.t += 1;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      this.params.forEach(({ variable }, i) => {
        const g = grads[i] as tf.Tensor;
        const s = this.slots[i] as Slots;
        switch (this.kind) {
          case 'sgd':
            variable.assign(tf.sub(variable, tf.mul(g, this.lr)));
            break;
          case 'adagrad': {
            const acc = s.v as tf.Variable;
            acc.assign(tf.add(acc, tf.square(g)));
            variable.assign(
              tf.sub(variable, tf.div(tf.mul(g, this.lr), tf.add(tf.sqrt(acc), this.eps))),
            );
            break;
          }
          case 'adam': {
            const m = s.m as tf.Variable;
            const v = s.v as tf.Variable;
            m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
            v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
            const mHat = tf.div(m, c1);
            let vUsed: tf.Tensor = v;
            if (s.vmax !== undefined) {
              const vmax = s.vmax as tf.Variable;
              vmax.assign(tf.maximum(vmax, v));
              vUsed = vmax;
            }
            const vHat = tf.div(vUsed, c2);
            variable.assign(
              tf.sub(variable, tf.div(tf.mul(mHat, this.lr), tf.add(tf.sqrt(vHat), this.eps))),
            );
            break;
          }
        }
      });
    });
  }

  /**
   * One update from the weighted sum of flat gradients, Σ weights[r] · parts[r] (each part the
   * weights' values one after another, in params order). The data-parallel step passes its
   * replicas' slice gradients here: the sum is formed inside the update loop, in the same order on
   * every replica, so they all compute the same floats.
   *
   * On wasm and cpu only (the data-parallel step's backends). With `shard`, only the flat
   * positions [from, to) are updated, their new values written to `out` at the same positions and
   * no weight assigned (the data-parallel step splits the update between its replicas, then each
   * assigns every weight from `out` with assignFlat). The
   * optimizer state outside the shard is not kept current.
   */
  applySum(
    parts: readonly Float32Array[],
    weights: readonly number[],
    shard?: { from: number; to: number; out: Float32Array },
  ): void {
    if (!this.fused) throw new Error('optimizer: applySum needs the wasm or cpu backend');
    const total = this.weightCount;
    if (parts.length === 0 || parts.length !== weights.length)
      throw new Error(`optimizer: ${parts.length} gradient parts, ${weights.length} weights`);
    for (const part of parts)
      if (part.length !== total)
        throw new Error(`optimizer: a flat gradient of ${part.length} floats for ${total} weights`);
    // More than two parts are summed first (in order); one or two go straight into the loops.
    let summed = parts;
    let by = weights;
    if (parts.length > 2) {
      // Reused from step to step (three or more threads): 4 bytes per weight, every step.
      this.summed ??= new Float32Array(total);
      const g = this.summed.fill(0);
      parts.forEach((part, r) => {
        const w = weights[r] as number;
        for (let j = 0; j < total; j += 1) g[j] = (g[j] as number) + w * (part[j] as number);
      });
      summed = [g];
      by = [1];
    }
    const a0 = by[0] as number;
    const a1 = (by[1] ?? 0) as number;
    const g0 = summed[0] as Float32Array;
    const g1 = summed.length > 1 ? (summed[1] as Float32Array) : g0;
    this.applyFused(
      (_i, _lo, _hi, from, to) => ({
        g0: g0.subarray(from, to),
        a0,
        g1: g1.subarray(from, to),
        a1,
      }),
      shard,
    );
  }

  /** Assigns every weight from a flat array (exportWeights() order): a sharded update's `out`. */
  assignFlat(values: Float32Array): void {
    if (values.length !== this.weightCount)
      throw new Error(`optimizer: ${values.length} floats for ${this.weightCount} weights`);
    let offset = 0;
    for (const { variable } of this.params) {
      assignValues(variable, values.subarray(offset, offset + variable.size));
      offset += variable.size;
    }
  }

  /**
   * The update of apply(), one loop per weight over plain arrays (same formulas, same order), on
   * the gradient a0 · g0 + a1 · g1 (a1 = 0 for a single gradient: adding 0 · g0 changes no float)
   * that `gradOf` gives for weight i's positions [lo, hi) (flat positions [from, to)).
   */
  private applyFused(
    gradOf: (i: number, lo: number, hi: number, from: number, to: number) => GradientSum,
    shard?: { from: number; to: number; out: Float32Array },
  ): void {
    this.t += 1;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    const h = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, c1, c2 };
    let offset = 0;
    this.params.forEach(({ variable }, i) => {
      const at = offset;
      offset += variable.size;
      // The part of this weight to update: all of it, or its overlap with the shard.
      const from = Math.max(at, shard?.from ?? at);
      const to = Math.min(at + variable.size, shard?.to ?? at + variable.size);
      if (from >= to) return;
      const s = this.slots[i] as Slots;
      const slot = (a: Slot | undefined) =>
        a === undefined ? undefined : (a as Float32Array).subarray(from - at, to - at);
      const update = (w: Float32Array, out: Float32Array) => {
        const g = gradOf(i, from - at, to - at, from, to);
        if (this.kind === 'sgd') sgdUpdate(w, out, g, this.lr);
        else if (this.kind === 'adagrad')
          adagradUpdate(w, out, g, slot(s.v) as Float32Array, this.lr, this.eps);
        else
          adamUpdate(
            w,
            out,
            g,
            slot(s.m) as Float32Array,
            slot(s.v) as Float32Array,
            slot(s.vmax),
            h,
          );
      };
      if (shard === undefined) updateVariable(variable, this.scratch(i, variable.size), update);
      else update(valuesOf(variable).subarray(from - at, to - at), shard.out.subarray(from, to));
    });
  }

  /**
   * Optimizer state as named arrays (for checkpoints): `<param>@m`, `<param>@v` (and
   * `<param>@vmax` with amsgrad), and the step.
   */
  exportState(): {
    step: number;
    slots: { name: string; shape: number[]; values: Float32Array }[];
  } {
    const slots: { name: string; shape: number[]; values: Float32Array }[] = [];
    this.params.forEach(({ name, variable }, i) => {
      const s = this.slots[i] as Slots;
      for (const key of SLOT_KEYS) {
        const slot = s[key];
        if (slot !== undefined)
          slots.push({
            name: `${name}@${key}`,
            shape: variable.shape.slice(),
            values:
              slot instanceof Float32Array ? slot.slice() : Float32Array.from(slot.dataSync()),
          });
      }
    });
    return { step: this.t, slots };
  }

  importState(state: {
    step: number;
    slots: readonly { name: string; shape: number[]; values: Float32Array }[];
  }): void {
    const byName = new Map(state.slots.map((s) => [s.name, s]));
    const expected: string[] = [];
    this.params.forEach(({ name }, i) => {
      const s = this.slots[i] as Slots;
      for (const key of SLOT_KEYS) if (s[key] !== undefined) expected.push(`${name}@${key}`);
    });
    if (byName.size !== expected.length || expected.some((n) => !byName.has(n)))
      throw new WeightsError(
        'mismatch',
        `optimizer state has slots [${[...byName.keys()].join(', ')}], this ${this.amsgrad ? 'amsgrad ' : ''}${this.kind} optimizer needs [${expected.join(', ')}]`,
      );
    if (!(Number.isInteger(state.step) && state.step >= 0))
      throw new WeightsError('malformed', `optimizer state: bad step ${state.step}`);
    this.params.forEach(({ name, variable }, i) => {
      const s = this.slots[i] as Slots;
      for (const key of SLOT_KEYS) {
        const slot = s[key];
        if (slot === undefined) continue;
        const src = byName.get(`${name}@${key}`) as { values: Float32Array };
        if (src.values.length !== variable.size)
          throw new WeightsError(
            'mismatch',
            `optimizer state ${name}@${key}: ${src.values.length} values, expected ${variable.size}`,
          );
        if (slot instanceof Float32Array) slot.set(src.values);
        else tf.tidy(() => slot.assign(tf.tensor(src.values, variable.shape, 'float32')));
      }
    });
    this.t = state.step;
  }

  dispose(): void {
    for (const s of this.slots)
      for (const key of SLOT_KEYS) {
        const slot = s[key];
        if (slot !== undefined && !(slot instanceof Float32Array)) slot.dispose();
      }
  }
}

// The fused updates: top-level functions over float arrays only, so V8 compiles each to one
// monomorphic loop. The gradient is a0 · g0 + a1 · g1 (see applyFused).

interface GradientSum {
  g0: Float32Array;
  a0: number;
  g1: Float32Array;
  a1: number;
}

function sgdUpdate(
  w: Float32Array,
  out: Float32Array,
  { g0, a0, g1, a1 }: GradientSum,
  lr: number,
): void {
  for (let j = 0; j < w.length; j += 1)
    out[j] = (w[j] as number) - (a0 * (g0[j] as number) + a1 * (g1[j] as number)) * lr;
}

function adagradUpdate(
  w: Float32Array,
  out: Float32Array,
  { g0, a0, g1, a1 }: GradientSum,
  acc: Float32Array,
  lr: number,
  eps: number,
): void {
  for (let j = 0; j < w.length; j += 1) {
    const gj = a0 * (g0[j] as number) + a1 * (g1[j] as number);
    acc[j] = (acc[j] as number) + gj * gj;
    out[j] = (w[j] as number) - (gj * lr) / (Math.sqrt(acc[j] as number) + eps);
  }
}

function adamUpdate(
  w: Float32Array,
  out: Float32Array,
  { g0, a0, g1, a1 }: GradientSum,
  m: Float32Array,
  v: Float32Array,
  vmax: Float32Array | undefined,
  h: { lr: number; beta1: number; beta2: number; eps: number; c1: number; c2: number },
): void {
  const { beta1, beta2, eps } = h;
  const a = 1 - beta1;
  const b = 1 - beta2;
  const k = h.lr / h.c1;
  const inverseC2 = 1 / h.c2;
  const n = w.length;
  for (let j = 0; j < n; j += 1) {
    const gj = a0 * (g0[j] as number) + a1 * (g1[j] as number);
    const mj = (m[j] as number) * beta1 + gj * a;
    let vj = (v[j] as number) * beta2 + gj * gj * b;
    m[j] = mj;
    v[j] = vj;
    if (vmax !== undefined) {
      vj = Math.max(vmax[j] as number, vj);
      vmax[j] = vj;
    }
    out[j] = (w[j] as number) - (k * mj) / (Math.sqrt(vj * inverseC2) + eps);
  }
}
