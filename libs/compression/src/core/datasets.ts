// Field cardinalities the paper's code asserts (docs/methods/reference.md#data): the shapes its
// budget test vectors are computed on.
import type { TableShape } from './shape';

export const CRITEO_FIELDS: readonly number[] = [
  1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992,
  5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
];

export const AVAZU_FIELDS: readonly number[] = [
  240, 7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486, 8251, 5, 4, 2626, 8, 9, 435, 4, 68,
  172, 60,
];

export const CRITEO_SHAPE: TableShape = { fields: CRITEO_FIELDS, dim: 16 };
export const AVAZU_SHAPE: TableShape = { fields: AVAZU_FIELDS, dim: 16 };
