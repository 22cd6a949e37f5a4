// adapt's sizing and remap (docs/methods/adapt.md#layout-and-memory). Everything that fixes the
// bytes is a function of the shape and the params alone (so estimateBytes is exact before any
// frequency is seen); the training counts only decide WHICH ids are frequent.
import { checkBudget, type Accounting } from '../core/budget';
import { BudgetError } from '../core/errors';
import { topPercentThreshold } from '../core/frequency';
import { fullBytes, totalRows, validateShape, type TableShape } from '../core/shape';
import { indexArray, indexBytes, type IndexArray } from './narrow-index';

export interface AdaptParams {
  /** ρ: each compressed field keeps ⌈n_f·ρ⌉ rows, frequent (U) and rare (V) together. */
  rowFraction: number;
  /** Share of a field's ids that is frequent (the §5.5-style bisection's target). */
  topPercent: number;
  /** Fields with n_f ≤ threshold stay plain (the reference's --threshold). */
  threshold: number;
}

export interface FieldPlan {
  n: number;
  compressed: boolean;
  /** Rows of U + V (compressed fields); n for plain ones. */
  total: number;
  /** Bytes per remap entry (remap values < total). */
  remapBytes: 1 | 2 | 4;
}

/**
 * Per field: compressed iff n_f > threshold, total = ⌈n_f·ρ⌉ < n_f (the reference's rule) and the
 * compressed form, remap counted, holds fewer bytes than the plain n_f × D table.
 */
export function adaptPlan(shape: TableShape, p: AdaptParams): FieldPlan[] {
  validateShape(shape);
  const D = shape.dim;
  return shape.fields.map((n) => {
    const total = Math.max(1, Math.ceil(n * p.rowFraction));
    const remapBytes = indexBytes(total);
    const compressed = n > p.threshold && total < n && total * D * 4 + n * remapBytes < n * D * 4;
    return { n, compressed, total: compressed ? total : n, remapBytes };
  });
}

export function planBytes(shape: TableShape, plan: readonly FieldPlan[]): number {
  let bytes = 0;
  for (const f of plan) bytes += f.total * shape.dim * 4 + (f.compressed ? f.n * f.remapBytes : 0);
  return bytes;
}

/** The reference's words: (n_hi + n_rare)·D per compressed field; the remap is not counted. */
export function planWords(shape: TableShape, plan: readonly FieldPlan[]): number {
  let words = 0;
  for (const f of plan) words += f.total * shape.dim;
  return words;
}

/**
 * ρ for a budget. 'paper-words': ρ = cr (the reference: n_rare = ⌈n_f·cr⌉ − n_hi). 'bytes': the
 * largest ρ (floored to 1e-6) whose bytes, remaps included, fit cr·n·D·4; so V holds fewer rows
 * than the reference's by the remaps' bytes. BudgetError names the smallest reachable budget
 * (one row per compressed field plus its remap) when the remaps alone exceed the budget.
 */
export function adaptParamsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
  base: Omit<AdaptParams, 'rowFraction'> = { topPercent: 0.1, threshold: 0 },
): AdaptParams {
  checkBudget(budget);
  validateShape(shape);
  if (accounting === 'paper-words') return { ...base, rowFraction: budget };
  const limit = budget * fullBytes(shape);
  const bytesAt = (rowFraction: number) =>
    planBytes(shape, adaptPlan(shape, { ...base, rowFraction }));
  if (bytesAt(1) <= limit) return { ...base, rowFraction: 1 };
  // ρ small enough that every field keeps one row (total = ⌈n_f·ρ⌉ = 1).
  const tiny = 1 / (2 * totalRows(shape));
  if (bytesAt(tiny) > limit)
    throw new BudgetError(
      `adapt: budget ${budget} is below the smallest reachable ${(bytesAt(tiny) / fullBytes(shape)).toPrecision(4)} ` +
        `(the remaps alone: one index per id, plus one row per field)`,
    );
  let lo = tiny;
  let hi = 1;
  for (let i = 0; i < 60 && hi - lo > 1e-9; i += 1) {
    const mid = (lo + hi) / 2;
    if (bytesAt(mid) <= limit) lo = mid;
    else hi = mid;
  }
  // Floor to 6 decimals for a readable spec; bytes are monotone in ρ, so it still fits.
  const rounded = Math.floor(lo * 1e6) / 1e6;
  return { ...base, rowFraction: rounded > 0 && bytesAt(rounded) <= limit ? rounded : lo };
}

export interface FieldRemap {
  /** Local id → row of [U; V]: frequent k-th → k, rare k-th → n_hi + (k mod n_rare). */
  remap: IndexArray;
  /** n_hi: frequent ids (rows of U). */
  frequent: number;
  /** κ: frequent = count ≥ κ. */
  kappa: number;
}

/**
 * One field's remap from its training counts (local ids in order). κ from the top-percent
 * bisection; when "count ≥ κ" (ties included) leaves no row for V (n_hi ≥ total), κ is raised to
 * the smallest value leaving at least one: max(κ, s[total − 1] + 1), s the counts sorted
 * descending. So unseen ids (count 0) always go to V, and the bytes never depend on the counts.
 */
export function adaptRemap(
  counts: ArrayLike<number>,
  total: number,
  topPercent: number,
): FieldRemap {
  const n = counts.length;
  let kappa = topPercentThreshold(counts, topPercent);
  let frequent = 0;
  for (let i = 0; i < n; i += 1) if ((counts[i] as number) >= kappa) frequent += 1;
  if (frequent > total - 1) {
    const sorted = Float64Array.from(counts as ArrayLike<number>).sort();
    kappa = Math.max(kappa, (sorted[n - total] as number) + 1);
    frequent = 0;
    for (let i = 0; i < n; i += 1) if ((counts[i] as number) >= kappa) frequent += 1;
  }
  const rare = total - frequent;
  const remap = indexArray(n, total);
  let k = 0;
  let r = 0;
  for (let x = 0; x < n; x += 1) {
    if ((counts[x] as number) >= kappa) {
      remap[x] = k;
      k += 1;
    } else {
      remap[x] = frequent + (r % rare);
      r += 1;
    }
  }
  return { remap, frequent, kappa };
}
