// Id checks and de-duplication shared by every method.
import { IdOutOfRangeError } from './errors';

/** Throws IdOutOfRangeError for the first id outside [0, rows). Never serve garbage rows. */
export function checkIds(ids: ArrayLike<number>, rows: number): void {
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    if (!(id >= 0 && id < rows) || !Number.isInteger(id)) throw new IdOutOfRangeError(i, id, rows);
  }
}

export interface UniqueRows {
  /** Distinct ids, in first-seen order. */
  rows: Uint32Array;
  /** Summed gradient per distinct id, rows.length × dim. */
  grads: Float32Array;
}

/**
 * Sums the gradients of duplicate ids ("indexed slices",
 * docs/methods/reference.md#lookups-and-updates): a row seen k times in a batch gets ONE update
 * with the sum of its k gradients.
 */
export function sumDuplicates(
  ids: ArrayLike<number>,
  rowGrads: Float32Array,
  dim: number,
): UniqueRows {
  const slot = new Map<number, number>();
  const order: number[] = [];
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    if (!slot.has(id)) {
      slot.set(id, order.length);
      order.push(id);
    }
  }
  const grads = new Float32Array(order.length * dim);
  for (let i = 0; i < ids.length; i += 1) {
    const base = (slot.get(ids[i] as number) as number) * dim;
    const src = i * dim;
    for (let j = 0; j < dim; j += 1)
      grads[base + j] = (grads[base + j] as number) + (rowGrads[src + j] as number);
  }
  return { rows: Uint32Array.from(order), grads };
}
