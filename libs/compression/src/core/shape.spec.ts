import { AVAZU_SHAPE, CRITEO_SHAPE } from './datasets';
import { fieldOf, fieldOffsets, totalRows } from './shape';

describe('shapes', () => {
  it('sums the cardinalities the reference asserts', () => {
    expect(totalRows(CRITEO_SHAPE)).toBe(33_762_577);
    expect(totalRows(AVAZU_SHAPE)).toBe(9_449_445);
  });
  it('maps global ids to fields', () => {
    const offsets = fieldOffsets({ fields: [3, 5, 2], dim: 4 });
    expect(Array.from(offsets)).toEqual([0, 3, 8, 10]);
    expect([0, 2, 3, 7, 8, 9].map((id) => fieldOf(offsets, id))).toEqual([0, 0, 1, 1, 2, 2]);
  });
});
