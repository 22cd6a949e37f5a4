// The known model behind synthetic labels, and the sampler of raw feature values.
//
//   logit = bias + sum_j a_j (x_j - c_j)                       dense, x_j = ln(v_j + 1) as trained on
//         + sum_f w_f(value_f)                                  per-feature weights
//         + sum_{f<g} <v_f(value_f), v_g(value_g)>              pairwise factor interactions (rank r)
//   P(click) = sigmoid(logit)
//
// w and v are pure functions of (seed, field, raw value text) through a hash (zero mean, unit
// variance uniforms scaled to the requested standard deviations), so the model needs no stored
// table and the true probability of any row can be recomputed from the file: that is what makes
// the Bayes-optimal AUC exactly known. The missing value ('') is a value with its own weights.
// The bias is calibrated (bisection) so the mean probability of a pilot sample hits the profile's
// positive rate.
import { transformDenseValue } from '../dense';
import { Prng } from '../prng';
import * as hash from './hash';
import {
  scaledCardinality,
  synthProfile,
  type SynthProfile,
  type SynthProfileName,
} from './profiles';
import { ZipfSampler } from './zipf';

// Local bindings of the hashing helpers: called millions of times per second, and a transpiled
// module's export getters (tsx, swc) are not free on every call.
const { combine, hashString, hex8, mix32, permute32, unitUniform, xorshift32 } = hash;
const { exp, log, floor, max, min, sqrt } = Math;
const NAN = Number.NaN;

export interface SynthModelOptions {
  profile: SynthProfileName;
  seed: number;
  /** Cardinality scale factor over the real dataset's fields (default 0.001). */
  scale: number;
  /** Zipf exponent of every field's value frequencies (default 1.1). */
  zipfExponent: number;
  /** Rank of the latent interaction vectors (default 4). */
  rank: number;
  /** Nominal standard deviation of the summed per-feature weights (default 0.8). */
  linearStd: number;
  /** Nominal standard deviation of the summed pairwise interactions (default 0.8; 0 = none). */
  interactionStd: number;
  /** Nominal standard deviation of the dense part (default 0.5; Criteo profile only). */
  denseStd: number;
}

export const DEFAULT_SYNTH_MODEL: Omit<SynthModelOptions, 'profile' | 'seed'> = {
  scale: 0.001,
  zipfExponent: 1.1,
  rank: 4,
  linearStd: 0.8,
  interactionStd: 0.8,
  denseStd: 0.5,
};

const PILOT_ROWS = 20000;
const TEXT_CACHE_RANKS = 1 << 18;

/** Draws the raw feature values of rows (all but Avazu's `hour`, which follows the row position). */
export class RowSampler {
  private readonly zipf: ZipfSampler[];
  private readonly valueKeys: Uint32Array;
  private readonly uniform: () => number;
  /** Raw texts of the most frequent ranks, formatted once (garbage and time per row). */
  private readonly texts: (string | undefined)[][];

  constructor(
    readonly profile: SynthProfile,
    readonly cardinalities: readonly number[],
    zipfExponent: number,
    seed: number,
    private readonly rng: Prng,
  ) {
    this.zipf = cardinalities.map((n) => new ZipfSampler(n, zipfExponent));
    this.valueKeys = Uint32Array.from(profile.categorical, (_, f) =>
      combine(seed >>> 0, 0x1000 + f),
    );
    this.uniform = () => rng.next();
    // Dense arrays (prefilled) stay fast element stores; a sparse array would turn into a dictionary.
    this.texts = cardinalities.map((n) =>
      new Array<string | undefined>(min(n, TEXT_CACHE_RANKS) + 1).fill(undefined),
    );
  }

  /** Fills one row: dense raw counts (NaN = missing) and categorical texts ('' = missing). */
  sample(dense: Float64Array, cats: string[]): void {
    const { rng, profile } = this;
    for (let j = 0; j < profile.dense.length; j += 1) {
      const d = profile.dense[j] as (typeof profile.dense)[number];
      if (rng.next() < d.missingRate) {
        dense[j] = NAN;
      } else if (d.negativeRate > 0 && rng.next() < d.negativeRate) {
        dense[j] = -1 - rng.int(0, 3);
      } else {
        dense[j] = max(0, floor(exp(log(d.median + 1) + d.sigma * rng.normal())) - 1);
      }
    }
    for (let f = 0; f < profile.categorical.length; f += 1) {
      const c = profile.categorical[f] as (typeof profile.categorical)[number];
      if (c.missingRate > 0 && rng.next() < c.missingRate) {
        cats[f] = '';
        continue;
      }
      const rank = (this.zipf[f] as ZipfSampler).sample(this.uniform);
      const texts = this.texts[f] as (string | undefined)[];
      let text = texts[rank];
      if (text === undefined) {
        const v = permute32(rank, this.valueKeys[f] as number);
        text = c.style === 'hex' ? hex8(v) : String(v);
        if (rank <= TEXT_CACHE_RANKS) texts[rank] = text;
      }
      cats[f] = text;
    }
  }
}

export class SyntheticModel {
  readonly profile: SynthProfile;
  readonly cardinalities: readonly number[];
  readonly bias: number;
  private readonly weightKeys: Uint32Array;
  private readonly active: boolean[];
  private readonly sigmaW: number;
  private readonly sigmaV: number;
  private readonly denseWeights: Float64Array;
  private readonly denseCenters: Float64Array;
  private readonly latent: Float64Array;

  private constructor(
    readonly options: SynthModelOptions,
    bias: number,
  ) {
    this.profile = synthProfile(options.profile);
    this.cardinalities = this.profile.categorical.map((c) =>
      scaledCardinality(c.fullCardinality, options.scale),
    );
    const seed = options.seed >>> 0;
    this.weightKeys = Uint32Array.from(this.profile.categorical, (_, f) =>
      combine(seed, 0x2000 + f),
    );
    this.active = this.profile.categorical.map((c) => c.active);
    const nActive = this.active.filter(Boolean).length;
    const pairs = (nActive * (nActive - 1)) / 2;
    this.sigmaW = options.linearStd / sqrt(max(1, nActive));
    this.sigmaV = pairs > 0 ? (options.interactionStd ** 2 / (pairs * options.rank)) ** 0.25 : 0;
    const nd = this.profile.dense.length;
    this.denseWeights = new Float64Array(nd);
    this.denseCenters = new Float64Array(nd);
    this.profile.dense.forEach((d, j) => {
      // Nominal mean and sd of x = ln(v + 1): a point mass at 0 (missing or negative) and
      // roughly N(ln(median + 1), sigma^2) otherwise.
      const p0 = d.missingRate + (1 - d.missingRate) * d.negativeRate;
      const mu = log(d.median + 1);
      const mean = (1 - p0) * mu;
      const sd = max(0.1, sqrt((1 - p0) * (d.sigma ** 2 + mu ** 2) - mean ** 2));
      this.denseCenters[j] = mean;
      this.denseWeights[j] =
        ((options.denseStd / sqrt(nd)) * unitUniform(combine(seed, 0x3000 + j))) / sd;
    });
    this.latent = new Float64Array(options.rank);
    this.bias = bias;
  }

  /** Builds the model of these options, calibrating the bias on a pilot sample. */
  static create(
    options: Partial<SynthModelOptions> & Pick<SynthModelOptions, 'profile' | 'seed'>,
  ): SyntheticModel {
    // An option given as undefined keeps its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const full: SynthModelOptions = { ...DEFAULT_SYNTH_MODEL, ...given } as SynthModelOptions;
    if (!(full.scale > 0)) throw new Error(`scale must be > 0, got ${full.scale}`);
    if (!Number.isInteger(full.rank) || full.rank < 1)
      throw new Error(`rank must be an integer >= 1, got ${full.rank}`);
    const unbiased = new SyntheticModel(full, 0);
    const pilot = new RowSampler(
      unbiased.profile,
      unbiased.cardinalities,
      full.zipfExponent,
      full.seed,
      new Prng(combine(full.seed >>> 0, 0xb1a5)),
    );
    const dense = new Float64Array(unbiased.profile.dense.length);
    const cats = new Array<string>(unbiased.profile.categorical.length).fill('');
    const z = new Float64Array(PILOT_ROWS);
    for (let i = 0; i < PILOT_ROWS; i += 1) {
      pilot.sample(dense, cats);
      z[i] = unbiased.logit(dense, 0, cats, 0);
    }
    const target = unbiased.profile.targetPositiveRate;
    let lo = -30;
    let hi = 30;
    for (let it = 0; it < 60; it += 1) {
      const mid = (lo + hi) / 2;
      let mean = 0;
      for (let i = 0; i < PILOT_ROWS; i += 1) mean += sigmoid(mid + (z[i] as number));
      if (mean / PILOT_ROWS < target) lo = mid;
      else hi = mid;
    }
    return new SyntheticModel(full, (lo + hi) / 2);
  }

  /**
   * The true logit of a row from its raw values: dense[dOff..] (raw counts, NaN = missing) and
   * cats[cOff..] (raw texts in the profile's field order, '' = missing).
   */
  logit(dense: ArrayLike<number>, dOff: number, cats: readonly string[], cOff: number): number {
    let z = this.bias;
    const nd = this.denseWeights.length;
    for (let j = 0; j < nd; j += 1)
      z +=
        (this.denseWeights[j] as number) *
        (transformDenseValue(dense[dOff + j] as number) - (this.denseCenters[j] as number));
    const r = this.options.rank;
    const lat = this.latent;
    lat.fill(0);
    let sq = 0;
    const sv = this.sigmaV;
    for (let f = 0; f < this.active.length; f += 1) {
      if (!this.active[f]) continue;
      const key = combine(this.weightKeys[f] as number, hashString(cats[cOff + f] as string));
      z += this.sigmaW * unitUniform(key);
      if (sv === 0) continue;
      // The latent coordinates: a xorshift stream seeded by the value's key (one hash per value).
      let state = mix32(key ^ 0x9e3779b9) || 1;
      for (let t = 0; t < r; t += 1) {
        state = xorshift32(state);
        const v = sv * unitUniform(state);
        lat[t] = (lat[t] as number) + v;
        sq += v * v;
      }
    }
    if (sv !== 0) {
      let s2 = 0;
      for (let t = 0; t < r; t += 1) s2 += (lat[t] as number) ** 2;
      z += 0.5 * (s2 - sq);
    }
    return z;
  }

  probability(
    dense: ArrayLike<number>,
    dOff: number,
    cats: readonly string[],
    cOff: number,
  ): number {
    return sigmoid(this.logit(dense, dOff, cats, cOff));
  }
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}
