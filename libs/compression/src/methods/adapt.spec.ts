import { readArtifact } from '../core/artifact';
import { describeTrainableConformance, syntheticFrequencies } from '../conformance/suite';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { BudgetError, SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { adapt } from './adapt';
import { adaptPlan, adaptRemap, type AdaptParams } from './adapt-layout';

// Every field compressed (n = 4: 2 rows + a u8 remap beat 4 plain rows).
describeTrainableConformance({ spec: 'adapt', shape: { fields: [4, 40, 300, 2000], dim: 8 } });
// Fields 0 and 1 plain by the threshold, fields 2 and 3 compressed.
describeTrainableConformance({
  spec: 'adapt(rowFraction=0.3,threshold=40)',
  shape: { fields: [4, 40, 300, 2000], dim: 8 },
});

const P = (over: Partial<AdaptParams> = {}): AdaptParams => ({
  rowFraction: 0.5,
  topPercent: 0.1,
  threshold: 0,
  ...over,
});
const make = (shape: TableShape, p: AdaptParams, frequencies?: Uint32Array) =>
  adapt.createTrainable(shape, p, {
    seed: 1,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
    frequencies: frequencies ?? syntheticFrequencies(totalRows(shape)),
  });

describe('adapt: remap', () => {
  it('gives the k-th frequent id row k and the rare ids the rare rows in turn', () => {
    // T = 3: the bisection over κ ∈ [0, 10) hits #(count ≥ 7) = 3 exactly: ids 2, 4, 7.
    const counts = [5, 0, 9, 1, 9, 2, 0, 7, 3, 1];
    const { remap, frequent, kappa } = adaptRemap(counts, 6, 0.3);
    expect(kappa).toBe(7);
    expect(frequent).toBe(3);
    // Rare ids 0, 1, 3, 5, 6, 8, 9 → 3 + (0, 1, 2, 0, 1, 2, 0).
    expect([...remap]).toEqual([3, 4, 0, 5, 1, 3, 4, 2, 5, 3]);
    expect(remap).toBeInstanceOf(Uint8Array);
  });

  it('raises κ when the tied frequent set would leave no rare row (unseen ids stay rare)', () => {
    // All ids tied: "count ≥ κ" is all or nothing; nothing is frequent, V holds every id in turn.
    const flat = adaptRemap(new Array<number>(10).fill(2), 5, 0.1);
    expect(flat.frequent).toBe(0);
    expect([...flat.remap]).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    // Three ids tied at 9 for T = 2 and only 3 rows: κ 9 → 10, all rare.
    const tied = adaptRemap([9, 9, 9, 1, 1, 1, 1, 1, 1, 1], 3, 0.2);
    expect(tied.kappa).toBe(10);
    expect(tied.frequent).toBe(0);
    // Room for the tie: kept whole.
    expect(adaptRemap([9, 9, 9, 1, 1, 1, 1, 1, 1, 1], 5, 0.2).frequent).toBe(3);
  });

  it('sends ids never seen in training to the rare table', () => {
    const shape = { fields: [50, 200], dim: 4 };
    const counts = new Uint32Array(250);
    for (let i = 0; i < 250; i += 3) counts[i] = 1 + (i % 17); // ids ≡ 1, 2 mod 3 unseen
    const t = make(shape, P(), counts);
    for (const p of t.parameters()) p.data.fill(p.name.endsWith('.frequent') ? 1 : -1);
    const unseen = Uint32Array.from({ length: 250 }, (_, i) => i).filter((i) => counts[i] === 0);
    const out = new Float32Array(unseen.length * 4);
    t.forward(unseen, out);
    expect(out.every((v) => v === -1)).toBe(true);
    // ...while about topPercent of each field reads its own frequent row.
    const seen = Uint32Array.from({ length: 250 }, (_, i) => i).filter((i) => counts[i] !== 0);
    const rows = new Float32Array(seen.length * 4);
    t.forward(seen, rows);
    const frequent = rows.filter((v) => v === 1).length / 4;
    expect(frequent).toBeGreaterThanOrEqual(25);
    expect(frequent).toBeLessThan(40);
  });

  it('refuses to build without training frequencies, or with the wrong number', () => {
    const shape = { fields: [50, 200], dim: 4 };
    const opt = new SparseOptimizer({ kind: 'sgd', lr: 0.1 });
    expect(() => adapt.createTrainable(shape, P(), { seed: 1, optimizer: opt })).toThrow(SpecError);
    expect(() =>
      adapt.createTrainable(shape, P(), {
        seed: 1,
        optimizer: opt,
        frequencies: new Uint32Array(249),
      }),
    ).toThrow(/249 frequencies for 250 ids/);
    expect(adapt.usesFrequencies).toBe(true);
  });
});

describe('adapt: layout and bytes', () => {
  it('stores each remap in the narrowest unsigned type holding its rows', () => {
    const shape = { fields: [4, 40, 300, 2000], dim: 8 };
    const content = readArtifact(make(shape, P()).toTable().encode());
    // Rows of U + V: 2, 20, 150, 1000.
    expect(content.sections.get('f2.remap')).toBeInstanceOf(Uint8Array);
    expect(content.sections.get('f3.remap')).toBeInstanceOf(Uint16Array);
    const bytes = (2 + 20 + 150 + 1000) * 8 * 4 + 4 + 40 + 300 + 2 * 2000;
    expect(adapt.estimateBytes(shape, P())).toBe(bytes);
    expect(adapt.paperWords(shape, P())).toBe((2 + 20 + 150 + 1000) * 8);
    expect(make(shape, P()).toTable().describe().notes.join(' ')).toMatch(
      /remaps: 4344 bytes, counted here/,
    );
  });

  it('keeps a field plain when compressing it saves no bytes (the remap counted)', () => {
    // D = 4, ρ = 0.9: n = 10 → 9 rows + 10 B remap = 154 < 160 B; n = 1000 → 900 rows + 2000 B
    // u16 remap = 16400 > 16000 B: plain.
    const shape = { fields: [10, 1000], dim: 4 };
    expect(adaptPlan(shape, P({ rowFraction: 0.9 })).map((f) => f.compressed)).toEqual([
      true,
      false,
    ]);
    expect(adapt.estimateBytes(shape, P({ rowFraction: 0.9 }))).toBe(154 + 16000);
    const content = readArtifact(
      make(shape, P({ rowFraction: 0.9 }))
        .toTable()
        .encode(),
    );
    expect([...content.sections.keys()]).toEqual([
      'f0.remap',
      'f0.frequent',
      'f0.rare',
      'f1.table',
    ]);
  });
});

describe('adapt: budget solver', () => {
  it('meets the budget in bytes with the remaps counted', () => {
    for (const shape of [CRITEO_SHAPE, AVAZU_SHAPE])
      for (const budget of [0.5, 0.25, 0.1]) {
        const p = adapt.paramsForBudget?.(shape, budget) as AdaptParams;
        const bytes = adapt.estimateBytes(shape, p);
        expect(bytes).toBeLessThanOrEqual(budget * fullBytes(shape));
        expect(bytes).toBeGreaterThan(0.995 * budget * fullBytes(shape));
        // The remaps take their share: fewer rows than the reference's ⌈n_f·cr⌉.
        expect(p.rowFraction).toBeLessThan(budget);
      }
  });

  it('reproduces the reference rule in paper words (ρ = cr, remap not counted)', () => {
    const p = adapt.paramsForBudget?.(CRITEO_SHAPE, 0.5, 'paper-words') as AdaptParams;
    expect(p).toEqual({ rowFraction: 0.5, topPercent: 0.1, threshold: 0 });
    const D = CRITEO_SHAPE.dim;
    const words = CRITEO_SHAPE.fields.reduce((s, n) => {
      const rows = Math.ceil(n * 0.5);
      return s + (rows < n ? rows : n) * D;
    }, 0);
    expect(adapt.paperWords(CRITEO_SHAPE, p)).toBe(words);
    expect(words / (totalRows(CRITEO_SHAPE) * D)).toBeCloseTo(0.5, 5);
    // Our bytes for the same table: the remaps on top (over budget, which is why bytes solve anew).
    expect(adapt.estimateBytes(CRITEO_SHAPE, p)).toBeGreaterThan(0.5 * fullBytes(CRITEO_SHAPE));
  });

  it('refuses a budget the remaps alone exceed, naming the smallest reachable one', () => {
    // One u8 index per id: ≥ 1/(4·16) of the full table.
    expect(() => adapt.paramsForBudget?.(CRITEO_SHAPE, 0.01)).toThrow(BudgetError);
    expect(() => adapt.paramsForBudget?.(CRITEO_SHAPE, 0.01)).toThrow(/smallest reachable 0\.0156/);
    expect(adapt.paramsForBudget?.(CRITEO_SHAPE, 1)).toMatchObject({ rowFraction: 1 });
  });
});
