// Dense optimizer for the MLP weights (docs/methods/reference.md#optimizers): SGD, Adagrad
// (initial accumulator 0, ε 1e-7) and Adam (β1 .9, β2 .999, ε 1e-8, no weight decay), the same update formulas as the
// lazy sparse optimizer of libs/compression (so dense and sparse parts step alike). Written on
// tfjs ops rather than tf.train.* because those use other defaults (Adagrad starts at 0.1).
// `amsgrad` (the reference's fourth optimizer, docs/methods/reference.md#optimizers) is Adam whose
// denominator uses the running maximum of v instead of v: v̂max = max(v̂max, v), then
// w -= lr · (m / c1) / (sqrt(v̂max / c2) + ε), as the reference's framework computes it.
import * as tf from '@tensorflow/tfjs';
import { ModelConfigError, WeightsError } from './errors';

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
  m?: tf.Variable;
  v?: tf.Variable;
  vmax?: tf.Variable;
}

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
    // Slots are made up front so a training step never changes the number of live tensors.
    this.slots = params.map(({ variable }) => {
      if (this.kind === 'adam')
        return {
          m: tf.variable(tf.zerosLike(variable), false),
          v: tf.variable(tf.zerosLike(variable), false),
          ...(this.amsgrad ? { vmax: tf.variable(tf.zerosLike(variable), false) } : {}),
        };
      if (this.kind === 'adagrad')
        return { v: tf.variable(tf.fill(variable.shape, this.initialAccumulator), false) };
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
              s.vmax.assign(tf.maximum(s.vmax, v));
              vUsed = s.vmax;
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
            values: Float32Array.from(slot.dataSync()),
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
        tf.tidy(() => slot.assign(tf.tensor(src.values, variable.shape, 'float32')));
      }
    });
    this.t = state.step;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m?.dispose();
      s.v?.dispose();
      s.vmax?.dispose();
    }
  }
}
