import type { TableDescription } from './method';
import { fullBytes, totalRows, type TableShape } from './shape';

/** The common describe() body: bytes, per-row and ratio figures from the shape. */
export function describeTable(
  method: string,
  spec: string,
  shape: TableShape,
  memoryBytes: number,
  paperWords: number,
  notes: string[] = [],
): TableDescription {
  const rows = totalRows(shape);
  return {
    method,
    spec,
    rows,
    dim: shape.dim,
    memoryBytes,
    bytesPerRow: memoryBytes / rows,
    compressionRatio: fullBytes(shape) / memoryBytes,
    paperWords,
    notes,
  };
}
