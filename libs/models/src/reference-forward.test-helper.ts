// Plain-TypeScript float64 forward passes of the models, written from docs/models.md
// independently of the tfjs code (the FM pairs are summed pair by pair, not by the ½[(Σv)² − Σv²]
// identity the tfjs code uses), for tests: the tfjs model must agree with them, and finite
// differences of them check the tfjs gradients.
import type { ModelConfig } from './config';
import type { WeightTensor } from './model';

export type Weights = Map<string, Float64Array>;

export function weightMap(weights: readonly WeightTensor[]): Weights {
  return new Map(weights.map((w) => [w.name, Float64Array.from(w.values)]));
}

function get(w: Weights, name: string): Float64Array {
  const v = w.get(name);
  if (v === undefined) throw new Error(`reference: no weight ${name}`);
  return v;
}

/** x [in] → x W + b with W stored [in, out] row-major. */
function linear(w: Weights, name: string, x: number[], out: number, bias = true): number[] {
  const W = get(w, `${name}.weight`);
  const b = bias ? get(w, `${name}.bias`) : undefined;
  const y: number[] = [];
  for (let o = 0; o < out; o += 1) {
    let acc = b ? (b[o] as number) : 0;
    for (let i = 0; i < x.length; i += 1) acc += (x[i] as number) * (W[i * out + o] as number);
    y.push(acc);
  }
  return y;
}

function mlp(w: Weights, name: string, x: number[], sizes: number[], reluLast: boolean): number[] {
  let h = x;
  sizes.forEach((out, i) => {
    h = linear(w, `${name}.${i}`, h, out);
    if (i < sizes.length - 1 || reluLast) h = h.map((v) => Math.max(0, v));
  });
  return h;
}

function dot(a: number[], b: number[]): number {
  return a.reduce((s, v, i) => s + v * (b[i] as number), 0);
}

/** Logit of one sample. dense: numDense values; rows: F×D values. */
export function referenceLogit(
  config: ModelConfig,
  w: Weights,
  dense: number[],
  rows: number[],
): number {
  const { numFields: F, dim: D, numDense } = config;
  const field = (f: number): number[] => rows.slice(f * D, (f + 1) * D);
  switch (config.kind) {
    case 'dlrm': {
      const vecs: number[][] = [];
      let head: number[] = [];
      if (numDense > 0) {
        head = mlp(w, 'bottom', dense, [...config.bottom, D], true);
        vecs.push(head);
      }
      for (let f = 0; f < F; f += 1) vecs.push(field(f));
      const tri: number[] = [];
      for (let i = 1; i < vecs.length; i += 1)
        for (let j = 0; j < i; j += 1) tri.push(dot(vecs[i] as number[], vecs[j] as number[]));
      return mlp(w, 'top', [...head, ...tri], [...config.top, 1], false)[0] as number;
    }
    case 'wdl': {
      const x = [...rows, ...dense];
      const deep = mlp(w, 'deep', x, [...config.deep, 1], false)[0] as number;
      return deep + (linear(w, 'wide', x, 1, false)[0] as number);
    }
    case 'dcn': {
      const x0 = [...rows, ...dense];
      let x = x0;
      for (let l = 0; l < config.crossLayers; l += 1) {
        const s = dot(x, Array.from(get(w, `cross.${l}.weight`)));
        const b = get(w, `cross.${l}.bias`);
        x = x0.map((v, i) => v * s + (b[i] as number) + (x[i] as number));
      }
      const deep = mlp(w, 'deep', x0, config.deep, false);
      return linear(w, 'out', [...x, ...deep], 1)[0] as number;
    }
    case 'deepfm':
    case 'fm': {
      let first = 0;
      for (let f = 0; f < F; f += 1) first += field(f)[0] as number;
      if (numDense > 0) first += linear(w, 'linear', dense, 1, false)[0] as number;
      let second = 0;
      for (let f = 0; f < F; f += 1)
        for (let g = f + 1; g < F; g += 1) second += dot(field(f).slice(1), field(g).slice(1));
      if (config.kind === 'fm') return (get(w, 'bias')[0] as number) + first + second;
      const latent: number[] = [];
      for (let f = 0; f < F; f += 1) latent.push(...field(f).slice(1));
      return first + second + (mlp(w, 'deep', latent, [...config.deep, 1], false)[0] as number);
    }
  }
}

export function referenceLogits(
  config: ModelConfig,
  w: Weights,
  dense: ArrayLike<number>,
  rows: ArrayLike<number>,
  B: number,
): number[] {
  const { numFields: F, dim: D, numDense } = config;
  const out: number[] = [];
  for (let s = 0; s < B; s += 1)
    out.push(
      referenceLogit(
        config,
        w,
        Array.from(dense).slice(s * numDense, (s + 1) * numDense),
        Array.from(rows).slice(s * F * D, (s + 1) * F * D),
      ),
    );
  return out;
}

/** Mean BCE with logits, float64. */
export function referenceLoss(
  config: ModelConfig,
  w: Weights,
  dense: ArrayLike<number>,
  rows: ArrayLike<number>,
  labels: ArrayLike<number>,
): number {
  const logits = referenceLogits(config, w, dense, rows, labels.length);
  let sum = 0;
  logits.forEach((x, i) => {
    const y = labels[i] as number;
    sum += Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));
  });
  return sum / labels.length;
}
