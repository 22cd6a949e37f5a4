import { readArtifact, writeArtifact } from './artifact';
import { bisect } from './budget';
import { crc32, crc32Portable } from './crc32';
import { ArtifactError, BudgetError } from './errors';
import { fromHalf, toHalf } from './half';
import { sumDuplicates } from './ids';
import { SparseOptimizer } from './optim';
import { Rng } from './rng';
import { parseSpec } from './spec';

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('half floats', () => {
  it('round-trip exactly representable values and round to nearest even', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14)])
      expect(fromHalf(toHalf(v))).toBe(v);
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1); // tie → even
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
  });
});

describe('artifact v1', () => {
  const content = {
    method: 'x',
    spec: 'x(a=1)',
    params: { a: 1 },
    shape: { fields: [3], dim: 2 },
    sections: new Map<string, Float32Array | Uint8Array>([
      ['table', Float32Array.of(1, 2, 3, 4, 5, 6)],
      ['codes', Uint8Array.of(9)],
    ]),
  };
  it('aligns sections to 64 bytes and reads back what it wrote', () => {
    const bytes = writeArtifact(content);
    expect(bytes.length % 64).toBe(0);
    const back = readArtifact(bytes);
    expect(back.params).toEqual({ a: 1 });
    expect(Array.from(back.sections.get('table') as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(back.sections.get('codes') as Uint8Array)).toEqual([9]);
  });
  it('reads from an unaligned buffer by copying', () => {
    const bytes = writeArtifact(content);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect(Array.from(readArtifact(shifted).sections.get('table') as Float32Array)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
  });
  it('names the problem', () => {
    const bytes = writeArtifact(content);
    const problem = (b: Uint8Array) => {
      try {
        readArtifact(b);
      } catch (err) {
        return (err as ArtifactError).problem;
      }
      return 'ok';
    };
    const flip = (at: number) => {
      const c = bytes.slice();
      c[at] = (c[at] as number) ^ 1;
      return c;
    };
    expect(problem(flip(0))).toBe('bad-magic');
    expect(problem(flip(8))).toBe('unsupported-version');
    // Flags and the header length are under the header CRC (format v2).
    expect(problem(flip(10))).toBe('checksum');
    expect(problem(flip(11))).toBe('checksum');
    expect(problem(flip(12))).toBe('checksum');
    expect(problem(flip(30))).toBe('checksum');
    expect(problem(bytes.slice(0, bytes.length - 1))).toBe('truncated');
    const table = readArtifact(bytes);
    expect(table.sections.size).toBe(2);
    const withJunk = new Uint8Array(bytes.length + 64);
    withJunk.set(bytes);
    expect(problem(withJunk)).toBe('malformed');
  });

  it('refuses unknown flag bits even when the CRC was recomputed over them', () => {
    const bytes = writeArtifact(content);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint16(10, 0x0004, true);
    const headerLength = view.getUint32(12, true);
    const covered = new Uint8Array(8 + headerLength);
    covered.set(bytes.subarray(8, 16), 0);
    covered.set(bytes.subarray(20, 20 + headerLength), 8);
    view.setUint32(16, crc32(covered), true);
    expect(() => readArtifact(bytes)).toThrow(/unknown flag bits 0x4/);
  });
});

describe('crc32', () => {
  it('is the IEEE CRC-32, the same from zlib and from the portable loop', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Portable(check)).toBe(0xcbf43926);
    const rng = new Rng(5);
    for (const length of [0, 1, 3, 4, 5, 63, 64, 1000, 65_537]) {
      const bytes = Uint8Array.from({ length }, () => rng.int(0, 256));
      expect(crc32(bytes)).toBe(crc32Portable(bytes));
      expect(crc32(bytes.subarray(1))).toBe(crc32Portable(bytes.subarray(1)));
    }
  });
});

describe('bisect', () => {
  it('halves to eps and refuses brackets without a root', () => {
    const { left, right } = bisect(0, 10, (x) => x - Math.PI, 1e-6);
    expect(left).toBeCloseTo(Math.PI, 5);
    expect(right - left).toBeLessThanOrEqual(1e-6);
    expect(() => bisect(0, 1, (x) => x + 1)).toThrow(BudgetError);
    expect(bisect(0, 4, (x) => x - 2)).toEqual({ left: 2, right: 2 }); // exact hit stops
  });
});

describe('sumDuplicates', () => {
  it('sums gradients of repeated ids in first-seen order', () => {
    const { rows, grads } = sumDuplicates(
      Uint32Array.of(5, 2, 5),
      Float32Array.of(1, 1, 2, 2, 3, 3),
      2,
    );
    expect(Array.from(rows)).toEqual([5, 2]);
    expect(Array.from(grads)).toEqual([4, 4, 2, 2]);
  });
});

describe('SparseOptimizer', () => {
  it('SGD, Adagrad and Adam update only the given rows', () => {
    for (const kind of ['sgd', 'adagrad', 'adam'] as const) {
      const opt = new SparseOptimizer({ kind, lr: 0.1 });
      const values = Float32Array.of(1, 1, 1, 1, 1, 1);
      const slot = opt.slot('w', 3, 2);
      opt.nextStep();
      opt.updateRows(slot, Uint32Array.of(1), Float32Array.of(1, -1), values);
      expect(values[0]).toBe(1);
      expect(values[4]).toBe(1);
      expect(values[2]).toBeLessThan(1);
      expect(values[3]).toBeGreaterThan(1);
    }
  });
  it('Adam bias correction uses the global step: a row first seen at step t is corrected with t', () => {
    const opt = new SparseOptimizer({ kind: 'adam', lr: 1 });
    const values = new Float32Array(2);
    const slot = opt.slot('w', 2, 1);
    for (let t = 0; t < 5; t += 1) {
      opt.nextStep();
      opt.updateRows(slot, Uint32Array.of(0), Float32Array.of(1), values);
    }
    opt.nextStep(); // step 6: row 1 appears for the first time
    opt.updateRows(slot, Uint32Array.of(1), Float32Array.of(1), values);
    const m = 0.1;
    const v = 0.001;
    const expected = -(m / (1 - 0.9 ** 6)) / (Math.sqrt(v / (1 - 0.999 ** 6)) + 1e-8);
    expect(values[1]).toBeCloseTo(expected, 5);
  });
  it('l2 adds l2 · value to the gradient of touched rows only; dense updates have none', () => {
    const opt = new SparseOptimizer({ kind: 'sgd', lr: 0.5, l2: 0.1 });
    const values = Float32Array.of(2, -4, 3);
    const slot = opt.slot('w', 3, 1);
    opt.nextStep();
    opt.updateRows(slot, Uint32Array.of(0, 1), Float32Array.of(0, 1), values);
    expect(values[0]).toBeCloseTo(2 - 0.5 * 0.1 * 2, 6);
    expect(values[1]).toBeCloseTo(-4 - 0.5 * (1 + 0.1 * -4), 6);
    expect(values[2]).toBe(3);
    const dense = Float32Array.of(2);
    opt.updateDense(opt.slot('d', 1, 1), Float32Array.of(0), dense);
    expect(dense[0]).toBe(2);
    expect(() => new SparseOptimizer({ kind: 'sgd', lr: 1, l2: -1 })).toThrow('l2 must be >= 0');
  });
});

describe('Rng and specs', () => {
  it('is reproducible', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect([a.next(), a.nextU32(), a.normal()]).toEqual([b.next(), b.nextU32(), b.normal()]);
  });
  it('parses specs and hybrids', () => {
    expect(parseSpec('qr(collisions=4,aggregator=mul)')).toEqual([
      { id: 'qr', params: { collisions: 4, aggregator: 'mul' } },
    ]);
    expect(parseSpec('prune(density=0.2)|rowwise-int8').map((p) => p.id)).toEqual([
      'prune',
      'rowwise-int8',
    ]);
    expect(() => parseSpec('qr(collisions)')).toThrow(/key=value/);
    expect(() => parseSpec('QR')).toThrow(/method id/);
  });
});
