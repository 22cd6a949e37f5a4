// The shape of an embedding collection: F fields of n_f rows each, all of dimension `dim`.
// Rows are addressed by GLOBAL id = offset_f + local id (docs/methods/reference.md#ids); a single
// table (e.g. RAG passage vectors) is one field.
import { SpecError } from './errors';

export interface TableShape {
  /** Cardinality n_f of each field, in field order. */
  readonly fields: readonly number[];
  readonly dim: number;
}

export function totalRows(shape: TableShape): number {
  let n = 0;
  for (const f of shape.fields) n += f;
  return n;
}

/** offset_f of each field (length F + 1; the last entry is the total). */
export function fieldOffsets(shape: TableShape): Float64Array {
  const offsets = new Float64Array(shape.fields.length + 1);
  for (let f = 0; f < shape.fields.length; f += 1)
    offsets[f + 1] = (offsets[f] ?? 0) + (shape.fields[f] ?? 0);
  return offsets;
}

/** Bytes of the uncompressed float32 table. */
export function fullBytes(shape: TableShape): number {
  return totalRows(shape) * shape.dim * 4;
}

export function validateShape(shape: TableShape): void {
  if (!Number.isInteger(shape.dim) || shape.dim < 1 || shape.dim > 65_536)
    throw new SpecError(`dim must be an integer in [1, 65536], got ${shape.dim}`);
  if (shape.fields.length === 0) throw new SpecError('a table needs at least one field');
  shape.fields.forEach((n, f) => {
    if (!Number.isInteger(n) || n < 1)
      throw new SpecError(`field ${f}: cardinality must be a positive integer, got ${n}`);
  });
  if (totalRows(shape) >= 2 ** 32)
    throw new SpecError(`a table has fewer than 2^32 rows, got ${totalRows(shape)}`);
}

/** Field of global id `id` (binary search over offsets). */
export function fieldOf(offsets: Float64Array, id: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((offsets[mid] ?? 0) <= id) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
