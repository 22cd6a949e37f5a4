import { common } from '@embpress/proto';
import { InvalidArgumentError } from './errors';
import {
  optionalName,
  requireCount,
  requireEnum,
  requireFloat32Block,
  requireName,
} from './validate';

const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.message;
    throw err;
  }
  return 'no error';
};

describe('request validation', () => {
  it('names', () => {
    expect(requireName('model', 'ctr-v1.2_a')).toBe('ctr-v1.2_a');
    expect(message(() => requireName('model', ''))).toBe('model: is required');
    expect(message(() => requireName('table', '../etc'))).toContain(
      'table: must be 1-128 characters',
    );
    expect(optionalName('version', '')).toBeUndefined();
  });

  it('counts', () => {
    expect(message(() => requireCount('ids', 0, 1, 10))).toBe('ids: must not be empty');
    expect(message(() => requireCount('ids', 11, 1, 10))).toBe(
      'ids: has 11 entries, more than the limit of 10',
    );
  });

  it('enums, including values unknown to this version of the contract', () => {
    const allowed = [common.RowEncoding.ROW_ENCODING_FLOAT32_LE];
    expect(
      message(() => requireEnum('encoding', 7 as common.RowEncoding, allowed, common.RowEncoding)),
    ).toBe('encoding: must be one of ROW_ENCODING_FLOAT32_LE, got 7');
  });

  it('float32 vector blocks', () => {
    const data = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const block = {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: 2,
      count: 2,
      data,
      codec: '',
    };
    expect(Array.from(requireFloat32Block('q', block, { maxCount: 2, maxDim: 8 }))).toEqual([
      1, 2, 3, 4,
    ]);
    expect(
      message(() => requireFloat32Block('q', { ...block, count: 3 }, { maxCount: 4, maxDim: 8 })),
    ).toBe('q.data: has 16 bytes, expected count x dim x 4 = 24');
    expect(
      message(() =>
        requireFloat32Block(
          'q',
          { ...block, data: Buffer.from(new Float32Array([1, NaN, 3, 4]).buffer) },
          { maxCount: 2, maxDim: 8 },
        ),
      ),
    ).toBe('q.data: value 1 is not finite');
    expect(message(() => requireFloat32Block('q', undefined, { maxCount: 2, maxDim: 8 }))).toBe(
      'q: is required',
    );
  });
});
