// Lazy sparse optimizers (docs/methods/reference.md#lookups-and-updates): only rows present in a
// batch change; duplicate ids are summed by the caller (sumDuplicates). Adam's bias-correction
// counter is GLOBAL: it advances once per training step (`nextStep`), not per row, as in the
// reference. Optimizer state is allocated per parameter on first use ("slots").
//
// 'rowwise-adagrad' is the embedding optimizer of the recommender field (issue #12 item 4;
// docs/models.md#sparse-optimizer): ONE accumulator per parameter row instead of one per value,
// acc_row += mean_j(g_row,j²); row -= lr · g_row / (sqrt(acc_row) + eps). Lazy like the others
// (rows absent from a batch keep their value and accumulator); a dense parameter is updated as
// rows of the slot's rowLength.

export const SPARSE_OPTIMIZER_KINDS = ['sgd', 'adagrad', 'adam', 'rowwise-adagrad'] as const;
export type OptimizerKind = (typeof SPARSE_OPTIMIZER_KINDS)[number];

export interface OptimizerConfig {
  kind: OptimizerKind;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adagrad's initial accumulator (reference: 0). */
  initialAccumulator?: number;
  /**
   * L2 penalty on sparse rows (`updateRows` only): the gradient of a touched row gets
   * l2 · value added, lazily, like the FM baseline's regularizer. Default 0.
   */
  l2?: number;
}

/** Per-parameter optimizer state: one row of state per parameter row. */
export interface OptimizerSlot {
  readonly name: string;
  readonly rowLength: number;
  m?: Float32Array;
  v?: Float32Array;
}

export class SparseOptimizer {
  readonly kind: OptimizerKind;
  readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly initialAccumulator: number;
  private readonly l2: number;
  /** Global step counter t (Adam bias correction uses β^t of this). */
  private t = 0;

  constructor(config: OptimizerConfig) {
    this.kind = config.kind;
    this.lr = config.lr;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.eps = config.eps ?? (config.kind === 'adagrad' ? 1e-7 : 1e-8);
    if (!(SPARSE_OPTIMIZER_KINDS as readonly string[]).includes(config.kind))
      throw new Error(
        `optimizer kind must be one of ${SPARSE_OPTIMIZER_KINDS.join(', ')}, got ${config.kind}`,
      );
    this.initialAccumulator = config.initialAccumulator ?? 0;
    this.l2 = config.l2 ?? 0;
    if (!(this.l2 >= 0 && Number.isFinite(this.l2)))
      throw new Error(`l2 must be >= 0, got ${config.l2}`);
    if (!(this.lr > 0 && Number.isFinite(this.lr)))
      throw new Error(`learning rate must be > 0, got ${config.lr}`);
  }

  /** Starts a training step; call once per batch before any update of that batch. */
  nextStep(): void {
    this.t += 1;
  }

  get step(): number {
    return this.t;
  }

  slot(name: string, rows: number, rowLength: number): OptimizerSlot {
    const slot: OptimizerSlot = { name, rowLength };
    if (this.kind === 'adam') {
      slot.m = new Float32Array(rows * rowLength);
      slot.v = new Float32Array(rows * rowLength);
    } else if (this.kind === 'adagrad') {
      slot.v = new Float32Array(rows * rowLength).fill(this.initialAccumulator);
    } else if (this.kind === 'rowwise-adagrad') {
      slot.v = new Float32Array(rows).fill(this.initialAccumulator);
    }
    return slot;
  }

  /**
   * Applies summed gradients `grads` (rows.length × rowLength) to the rows `rows` of `values`.
   * `at(i)` gives where row i lives in `values` (default: rows[i], i.e. `values` is the whole
   * parameter; methods that update a gathered scratch copy pass `i => i`).
   */
  updateRows(
    slot: OptimizerSlot,
    rows: Uint32Array,
    grads: Float32Array,
    values: Float32Array,
    at: (i: number) => number = (i) => rows[i] as number,
  ): void {
    const L = slot.rowLength;
    if (this.kind === 'rowwise-adagrad') {
      for (let i = 0; i < rows.length; i += 1)
        this.rowwiseAdagrad(slot, rows[i] as number, grads, i * L, values, at(i) * L, L, this.l2);
      return;
    }
    const t = Math.max(1, this.t);
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    for (let i = 0; i < rows.length; i += 1) {
      const state = (rows[i] as number) * L;
      const base = at(i) * L;
      const g0 = i * L;
      for (let j = 0; j < L; j += 1) {
        const value = values[base + j] as number;
        const g = (grads[g0 + j] as number) + this.l2 * value;
        values[base + j] = value - this.delta(slot, state + j, g, c1, c2);
      }
    }
  }

  /** Dense update of a whole parameter (MLP weights, projections). */
  updateDense(slot: OptimizerSlot, grads: Float32Array, values: Float32Array): void {
    if (this.kind === 'rowwise-adagrad') {
      const L = Math.max(1, slot.rowLength);
      for (let r = 0; r * L < values.length; r += 1)
        this.rowwiseAdagrad(
          slot,
          r,
          grads,
          r * L,
          values,
          r * L,
          Math.min(L, values.length - r * L),
          0,
        );
      return;
    }
    const t = Math.max(1, this.t);
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    for (let k = 0; k < values.length; k += 1)
      values[k] = (values[k] as number) - this.delta(slot, k, grads[k] as number, c1, c2);
  }

  /**
   * Row-wise Adagrad on one row: `n` values of `values` from `base`, their gradients in `grads`
   * from `g0`, the row's accumulator at `slot.v[row]`.
   */
  private rowwiseAdagrad(
    slot: OptimizerSlot,
    row: number,
    grads: Float32Array,
    g0: number,
    values: Float32Array,
    base: number,
    n: number,
    l2: number,
  ): void {
    const v = slot.v as Float32Array;
    let sq = 0;
    for (let j = 0; j < n; j += 1) {
      const g = (grads[g0 + j] as number) + l2 * (values[base + j] as number);
      sq += g * g;
    }
    const acc = (v[row] as number) + sq / n;
    v[row] = acc;
    const scale = this.lr / (Math.sqrt(acc) + this.eps);
    for (let j = 0; j < n; j += 1) {
      const value = values[base + j] as number;
      values[base + j] = value - scale * ((grads[g0 + j] as number) + l2 * value);
    }
  }

  private delta(slot: OptimizerSlot, k: number, g: number, c1: number, c2: number): number {
    switch (this.kind) {
      case 'sgd':
        return this.lr * g;
      case 'adagrad': {
        const v = slot.v as Float32Array;
        const acc = (v[k] as number) + g * g;
        v[k] = acc;
        return (this.lr * g) / (Math.sqrt(acc) + this.eps);
      }
      case 'rowwise-adagrad':
        throw new Error('rowwise-adagrad updates whole rows (rowwiseAdagrad)');
      case 'adam': {
        const m = slot.m as Float32Array;
        const v = slot.v as Float32Array;
        const mk = this.beta1 * (m[k] as number) + (1 - this.beta1) * g;
        const vk = this.beta2 * (v[k] as number) + (1 - this.beta2) * g * g;
        m[k] = mk;
        v[k] = vk;
        return (this.lr * (mk / c1)) / (Math.sqrt(vk / c2) + this.eps);
      }
    }
  }
}
