// Shapes of the synthetic datasets: Criteo-like (13 dense + 26 categorical, TSV) and Avazu-like
// (22 categorical, CSV with id/click/hour). Cardinalities are the real datasets'
// (docs/methods/reference.md#data) scaled by a factor; missing rates and dense medians approximate
// the Kaggle Criteo data's published statistics. They shape the data; they are not claims about the
// real data.
import { AVAZU_FIELDS, CRITEO_FIELDS } from '@embpress/compression';
import { AVAZU_CATEGORICAL, CRITEO_CATEGORICAL, CRITEO_DENSE } from '../formats';

export type SynthProfileName = 'criteo' | 'avazu';

export interface CategoricalFieldProfile {
  name: string;
  /** Cardinality in the real dataset. */
  fullCardinality: number;
  missingRate: number;
  /** How raw values are written: 8 hex digits (Criteo, Avazu ids) or a decimal integer. */
  style: 'hex' | 'int';
  /** False for a field without effect on the label (Avazu's `hour`, a timestamp). */
  active: boolean;
}

export interface DenseFieldProfile {
  name: string;
  missingRate: number;
  /** Median of the raw count; values are floor(exp(ln(median + 1) + sigma z)) - 1. */
  median: number;
  sigma: number;
  /** Probability of a negative count (-1..-3), which the transform maps to 0. */
  negativeRate: number;
}

export interface SynthProfile {
  name: SynthProfileName;
  categorical: CategoricalFieldProfile[];
  dense: DenseFieldProfile[];
  /** Mean of the true probabilities the bias is calibrated to. */
  targetPositiveRate: number;
}

// Approximate missing rates of Kaggle Criteo's C1..C26 and I1..I13.
const CRITEO_CAT_MISSING = [
  0, 0, 0.034, 0.034, 0, 0.121, 0, 0, 0, 0, 0, 0.034, 0, 0, 0, 0.034, 0, 0, 0.44, 0.44, 0.034,
  0.763, 0, 0.034, 0.44, 0.44,
];
const CRITEO_DENSE_MISSING = [
  0.454, 0, 0.215, 0.224, 0.026, 0.223, 0.043, 0.0005, 0.043, 0.454, 0.043, 0.765, 0.224,
];
const CRITEO_DENSE_MEDIAN = [1, 3, 7, 6, 2900, 33, 3, 8, 38, 1, 1, 0, 5];
const CRITEO_DENSE_SIGMA = [1.0, 1.4, 1.2, 0.9, 1.5, 1.3, 1.2, 0.9, 1.1, 0.6, 0.8, 1.0, 1.1];

export const CRITEO_PROFILE: SynthProfile = {
  name: 'criteo',
  categorical: CRITEO_CATEGORICAL.map((name, i) => ({
    name,
    fullCardinality: CRITEO_FIELDS[i] as number,
    missingRate: CRITEO_CAT_MISSING[i] as number,
    style: 'hex',
    active: true,
  })),
  dense: CRITEO_DENSE.map((name, i) => ({
    name,
    missingRate: CRITEO_DENSE_MISSING[i] as number,
    median: CRITEO_DENSE_MEDIAN[i] as number,
    sigma: CRITEO_DENSE_SIGMA[i] as number,
    negativeRate: name === 'I2' ? 0.1 : 0,
  })),
  targetPositiveRate: 0.25,
};

// Avazu columns written as decimal integers in the real file.
const AVAZU_INT = new Set([
  'C1',
  'banner_pos',
  'device_type',
  'device_conn_type',
  'C14',
  'C15',
  'C16',
  'C17',
  'C18',
  'C19',
  'C20',
  'C21',
]);

export const AVAZU_PROFILE: SynthProfile = {
  name: 'avazu',
  categorical: AVAZU_CATEGORICAL.map((name, i) => ({
    name,
    fullCardinality: AVAZU_FIELDS[i] as number,
    missingRate: 0,
    style: AVAZU_INT.has(name) ? 'int' : 'hex',
    active: name !== 'hour',
  })),
  dense: [],
  targetPositiveRate: 0.17,
};

export function synthProfile(name: SynthProfileName): SynthProfile {
  return name === 'criteo' ? CRITEO_PROFILE : AVAZU_PROFILE;
}

/** Fields this small keep their real cardinality; larger ones shrink, but not below it. */
export const SMALL_FIELD = 100;

/** Scaled cardinality: max(min(n, 100), round(n * scale)), never above n. */
export function scaledCardinality(full: number, scale: number): number {
  return Math.min(full, Math.max(Math.min(full, SMALL_FIELD), Math.round(full * scale)));
}
