import { describeTrainableConformance } from '../conformance/suite';
import { readArtifact, section, type ArtifactContent } from '../core/artifact';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { ArtifactError, SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { fieldOf, fieldOffsets, fullBytes, type TableShape } from '../core/shape';
import { registry } from '../methods';
import { mulmod, robe, ROBE_PRIME, robeSize, sumBySlot, type RobeParams } from './robe';

const small: TableShape = { fields: [40, 9, 300], dim: 8 };
describeTrainableConformance({ spec: 'robe(budget=0.3)', shape: small });
// A tiny array: slots collide inside a row and across rows, chunks and field slots on.
describeTrainableConformance({
  spec: 'robe(size=29,chunks=2,slotCoefficient=true)',
  shape: small,
});

const P = BigInt(ROBE_PRIME);

/** The reference formula in exact integers: [index, sign] of element j of global id x. */
function reference(
  k: Uint32Array,
  M: number,
  D: number,
  Z: number,
  x: number,
  j: number,
  s: number | null,
): [number, number] {
  const [, r1, r2, r3, r4, r5, r6, r7, r8] = [...k].map(BigInt) as bigint[] as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  const w = D / Z;
  const c = BigInt(Math.floor(j / w));
  const o = BigInt(j % w);
  const X = BigInt(x);
  const S = BigInt(s ?? 0);
  const slot = s === null ? 0n : 1n;
  const index = ((r3 * X + r1 + r2 * c + o + slot * r4 * S) % P) % BigInt(M);
  const sign = ((r7 * X + r5 + r6 * BigInt(j) + slot * r8 * S) % P) % 2n;
  return [Number(index), 2 * Number(sign) - 1];
}

function build(shape: TableShape, p: RobeParams, seed = 1) {
  const t = robe.createTrainable(shape, p, {
    seed,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr: 1 }),
  });
  const constants = section(readArtifact(t.toTable().encode()), 'hash', 'u32', 10);
  return { t, constants, array: t.parameters()[0]?.data as Float32Array };
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

describe('robe', () => {
  it('has canonical specs; size or budget, chunks must divide the dimension', () => {
    expect(registry.resolve('robe').spec).toBe('robe(budget=0.5,chunks=1,slotCoefficient=false)');
    expect(registry.resolve('robe(size=10)').spec).toBe(
      'robe(size=10,chunks=1,slotCoefficient=false)',
    );
    expect(() => registry.resolve('robe(size=10,budget=0.5)')).toThrow(SpecError);
    expect(() => registry.resolve(`robe(size=${ROBE_PRIME})`)).toThrow(SpecError);
    expect(() => robeSize(small, { size: 10, chunks: 3, slotCoefficient: false })).toThrow(
      SpecError,
    );
    expect(robeSize(small, { budget: 0.3, chunks: 1, slotCoefficient: false })).toBe(837);
  });

  it('mulmod is exact where a·x exceeds 2^53', () => {
    const rng = new Rng(3);
    const cases: Array<[number, number]> = [
      [ROBE_PRIME - 1, 2 ** 32 - 1],
      [ROBE_PRIME - 1, ROBE_PRIME - 1],
      [1, 0],
      [123_456_789, 65_536],
    ];
    for (let i = 0; i < 2000; i += 1) cases.push([rng.int(1, ROBE_PRIME), rng.nextU32()]);
    for (const [a, x] of cases)
      expect(mulmod(a, x, ROBE_PRIME)).toBe(Number((BigInt(a) * BigInt(x)) % P));
  });

  it('matches the reference formula in exact integers (large ids, chunks, field slots)', () => {
    const shape = { fields: [3_000_000_000, 1_294_967_295], dim: 4 };
    for (const p of [
      { size: 1009, chunks: 2, slotCoefficient: true },
      { size: 3, chunks: 1, slotCoefficient: false },
      { size: 1_000_003, chunks: 4, slotCoefficient: false },
    ]) {
      const { t, constants, array } = build(shape, p);
      for (let k = 0; k < array.length; k += 1) array[k] = k + 1;
      const ids = Uint32Array.of(0, 1, 2 ** 31 + 5, 2_999_999_999, 3_000_000_000, 2 ** 32 - 2);
      const out = new Float32Array(ids.length * 4);
      t.forward(ids, out);
      const served = new Float32Array(ids.length * 4);
      t.toTable().lookup(ids, served);
      expect(served).toEqual(out);
      const offsets = fieldOffsets(shape);
      ids.forEach((x, i) => {
        for (let j = 0; j < 4; j += 1) {
          const s = p.slotCoefficient ? fieldOf(offsets, x) : null;
          const [index, sign] = reference(constants, p.size, 4, p.chunks, x, j, s);
          expect(out[i * 4 + j]).toBe(sign * (index + 1));
        }
      });
    }
  });

  it('wraps at P then at M (Z = 1: consecutive slots, mod P first)', () => {
    const shape = { fields: [ROBE_PRIME + 10], dim: 4 };
    const p = { size: 1000, chunks: 1, slotCoefficient: false };
    const { t, constants, array } = build(shape, p);
    for (let k = 0; k < array.length; k += 1) array[k] = k + 1;
    // x with (r3·x + r1) mod P = P − 2: elements read t = P−2, P−1, 0, 1 (mod M).
    const r3 = BigInt(constants[3] as number);
    const r1 = BigInt(constants[1] as number);
    const x = Number((((P - 2n - r1 + P) % P) * modInverse(r3, P)) % P);
    const out = new Float32Array(4);
    t.forward(Uint32Array.of(x), out);
    const expected = [ROBE_PRIME - 2, ROBE_PRIME - 1, 0, 1].map((v) => (v % 1000) + 1);
    expect([...out].map(Math.abs)).toEqual(expected);
    for (let j = 0; j < 4; j += 1) {
      const [index, sign] = reference(constants, 1000, 4, 1, x, j, null);
      expect(out[j]).toBe(sign * (index + 1));
    }
  });

  it('accumulates sign-weighted gradients over every (id, element) that maps to a slot', () => {
    const shape = { fields: [50], dim: 8 };
    const p = { size: 5, chunks: 1, slotCoefficient: false };
    const { t, constants } = build(shape, p);
    const ids = Uint32Array.of(3, 17, 3);
    const g = new Float32Array(ids.length * 8).map((_, k) => k + 1);
    const expected = new Map<number, number>();
    ids.forEach((x, i) => {
      for (let j = 0; j < 8; j += 1) {
        const [index, sign] = reference(constants, 5, 8, 1, x, j, null);
        expected.set(index, (expected.get(index) ?? 0) + sign * (g[i * 8 + j] as number));
      }
    });
    const [grad] = t.gradients(ids, g);
    const got = new Map([...(grad?.rows ?? [])].map((r, k) => [r, grad?.values[k]]));
    expect(got).toEqual(expected);
  });

  it('sums by slot in first-seen order', () => {
    const { rows, grads } = sumBySlot(
      Uint32Array.of(7, 2 ** 32 - 1, 7, 0, 2 ** 32 - 1),
      Float32Array.of(1, 2, 3, 4, 5),
    );
    expect([...rows]).toEqual([7, 2 ** 32 - 1, 0]);
    expect([...grads]).toEqual([4, 7, 4]);
  });

  it('reproduces the reference array sizes (paper words) and counts its constants in bytes', () => {
    const size = (shape: TableShape, cr: number, acc?: 'paper-words') =>
      robe.paramsForBudget?.(shape, cr, acc);
    expect(size(CRITEO_SHAPE, 0.5, 'paper-words')).toEqual({
      size: 270_100_616,
      chunks: 1,
      slotCoefficient: false,
    });
    expect(size(AVAZU_SHAPE, 0.5, 'paper-words')?.size).toBe(75_595_560);
    expect(robeSize(CRITEO_SHAPE, { budget: 0.5, chunks: 1, slotCoefficient: false })).toBe(
      270_100_616,
    );
    expect(
      robe.paperWords(CRITEO_SHAPE, { size: 270_100_616, chunks: 1, slotCoefficient: false }),
    ).toBe(270_100_616);
    expect(robe.estimateBytes(small, { size: 100, chunks: 1, slotCoefficient: false })).toBe(440);
    for (const shape of [CRITEO_SHAPE, AVAZU_SHAPE, small]) {
      for (const budget of [1, 0.5, 0.1, 0.01]) {
        const p = size(shape, budget) as RobeParams;
        const bytes = robe.estimateBytes(shape, p);
        expect(bytes).toBeLessThanOrEqual(budget * fullBytes(shape));
        expect(bytes + 4).toBeGreaterThan(budget * fullBytes(shape));
      }
    }
    expect(size(CRITEO_SHAPE, 0.5)?.size).toBe(270_100_606);
  });

  it('stores its constants in the artifact and refuses bad ones', () => {
    const { t, constants } = build(small, { size: 50, chunks: 1, slotCoefficient: false }, 9);
    expect(constants[0]).toBe(ROBE_PRIME);
    expect([...constants.subarray(1)].every((r) => r >= 1 && r < ROBE_PRIME)).toBe(true);
    const content = readArtifact(t.toTable().encode());
    const bad = Uint32Array.from(constants);
    bad[0] = 7;
    const broken: ArtifactContent = {
      ...content,
      sections: new Map([...content.sections, ['hash', bad]]),
    };
    expect(() => robe.loadTable(broken)).toThrow(ArtifactError);
    // Different seeds draw different constants.
    expect(build(small, { size: 50, chunks: 1, slotCoefficient: false }, 10).constants).not.toEqual(
      constants,
    );
  });
});
