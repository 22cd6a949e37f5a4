// The conformance suite every method passes (one `describeConformance(...)` line per method).
// It checks the contracts of core/method.ts on small generated tables: spec round trip, exact
// byte accounting, artifact round trip, determinism, train/serve equality, gradients by finite
// differences, lazy updates, id range checks, corrupt artifacts, and (codecs) reconstruction error.
import { ArtifactError, IdOutOfRangeError } from '../core/errors';
import type {
  CodecMethod,
  CompressedTable,
  TrainableEmbedding,
  TrainableMethod,
} from '../core/method';
import { SparseOptimizer } from '../core/optim';
import { isStagedMethod, type StageContext, type StagedTrainable } from '../core/staged';
import { registry } from '../methods';
import { Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';

export interface TrainableCase {
  spec: string;
  shape: TableShape;
  /** Max |serving − training| per value: 0 for fp methods (exact), a stated bound otherwise. */
  serveTolerance?: number;
  /** Finite-difference check settings, or why this method cannot have one. */
  gradientCheck?: { step?: number; relTol?: number; absTol?: number } | { skip: string };
  /** Whether different seeds must give different tables (false for deterministic inits). */
  seedMatters?: boolean;
}

export interface CodecCase {
  spec: string;
  shape: TableShape;
  /** Upper bound of ‖decoded − original‖_F / ‖original‖_F on the generated data. */
  maxRelativeError: number;
  /** Generator of the trained table to compress (default: N(0, 0.01²) as the reference's RAG test). */
  data?: (rng: Rng, rows: number, dim: number) => Float32Array;
}

const optimizer = () => new SparseOptimizer({ kind: 'adam', lr: 0.01 });

/**
 * Power-law training counts for `rows` global ids (what frequency-aware methods get from the
 * engine): id i is seen about 1000 / (1 + (i·7919 mod rows)) times, some ids never.
 */
export function syntheticFrequencies(rows: number): Uint32Array {
  return Uint32Array.from({ length: rows }, (_, i) =>
    Math.floor(1000 / (1 + ((i * 7919) % rows))),
  );
}

function randomIds(rng: Rng, count: number, rows: number): Uint32Array {
  const ids = new Uint32Array(count);
  for (let i = 0; i < count; i += 1) ids[i] = rng.int(0, rows);
  return ids;
}

function lookupAll(
  table: CompressedTable | TrainableEmbedding,
  ids: Uint32Array,
  dim: number,
): Float32Array {
  const out = new Float32Array(ids.length * dim);
  if ('lookup' in table) table.lookup(ids, out);
  else table.forward(ids, out);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i += 1)
    max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Common serving-table checks: bytes, artifact round trip, corrupt artifacts, id range. */
function describeServingChecks(
  name: string,
  build: () => { table: CompressedTable; estimate: number },
) {
  describe(`${name}: serving table`, () => {
    it('memoryBytes equals estimateBytes, and describe() reports it', () => {
      const { table, estimate } = build();
      expect(table.memoryBytes()).toBe(estimate);
      const d = table.describe();
      expect(d.memoryBytes).toBe(estimate);
      expect(d.rows).toBe(table.rows);
      expect(d.paperWords).toBeGreaterThan(0);
    });

    it('round-trips through its artifact bit-identically', () => {
      const { table } = build();
      const bytes = table.encode();
      const loaded = registry.load(bytes);
      expect(loaded.spec).toBe(table.spec);
      expect(Buffer.from(loaded.encode()).equals(Buffer.from(bytes))).toBe(true);
      const ids = Uint32Array.from(
        { length: Math.min(64, table.rows) },
        (_, i) => (i * 7919) % table.rows,
      );
      expect(
        Buffer.from(lookupAll(loaded, ids, table.dim).buffer).equals(
          Buffer.from(lookupAll(table, ids, table.dim).buffer),
        ),
      ).toBe(true);
      expect(loaded.memoryBytes()).toBe(table.memoryBytes());
    });

    it('refuses a flipped byte anywhere, and truncation, with ArtifactError', () => {
      const { table } = build();
      const bytes = table.encode();
      const rng = new Rng(7);
      const positions = [
        8,
        12,
        16,
        25,
        ...Array.from({ length: 24 }, () => rng.int(0, bytes.length)),
      ];
      for (const at of positions) {
        const corrupt = bytes.slice();
        corrupt[at] = (corrupt[at] as number) ^ 0x10;
        // A flip inside padding changes no data: it may load, but then it must serve the same rows.
        try {
          const loaded = registry.load(corrupt);
          expect(Buffer.from(loaded.encode()).equals(Buffer.from(bytes))).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ArtifactError);
        }
      }
      for (const keep of [0, 10, 19, Math.floor(bytes.length / 2), bytes.length - 1]) {
        expect(() => registry.load(bytes.slice(0, keep))).toThrow(ArtifactError);
      }
    });

    it('refuses out-of-range ids with IdOutOfRangeError', () => {
      const { table } = build();
      const out = new Float32Array(3 * table.dim);
      expect(() => table.lookup(Uint32Array.of(0, table.rows, 1), out)).toThrow(IdOutOfRangeError);
      expect(() => table.lookup(Uint32Array.of(0xffffffff), out)).toThrow(IdOutOfRangeError);
    });
  });
}

export function describeTrainableConformance(c: TrainableCase): void {
  const resolved = registry.resolve(c.spec);
  const method = resolved.method as TrainableMethod;
  const rows = totalRows(c.shape);
  const dim = c.shape.dim;
  const frequencies = syntheticFrequencies(rows);
  const make = (seed = 1) =>
    method.createTrainable(c.shape, resolved.params, {
      seed,
      optimizer: optimizer(),
      frequencies,
    });

  describe(`conformance: ${resolved.spec}`, () => {
    it('is trainable and its spec round-trips', () => {
      expect(method.kind).toBe('trainable');
      expect(registry.resolve(resolved.spec).spec).toBe(resolved.spec);
      expect(make().spec).toBe(resolved.spec);
    });

    it('is deterministic for a seed, before and after an update', () => {
      const a = make(3);
      const b = make(3);
      const rng = new Rng(11);
      const ids = randomIds(rng, 32, rows);
      expect(lookupAll(a, ids, dim)).toEqual(lookupAll(b, ids, dim));
      const grads = new Float32Array(ids.length * dim).map(() => rng.normal());
      a.backward(ids, grads);
      b.backward(ids, grads);
      expect(lookupAll(a, ids, dim)).toEqual(lookupAll(b, ids, dim));
      if (c.seedMatters ?? true)
        expect(lookupAll(make(4), ids, dim)).not.toEqual(lookupAll(make(3), ids, dim));
    });

    it(`serves what it trained (max |difference| <= ${c.serveTolerance ?? 0})`, () => {
      const t = make();
      const rng = new Rng(5);
      const ids = randomIds(rng, 64, rows);
      t.backward(
        ids,
        new Float32Array(ids.length * dim).map(() => rng.normal()),
      );
      const all = Uint32Array.from({ length: Math.min(rows, 512) }, (_, i) => i);
      const trained = lookupAll(t, all, dim);
      const served = lookupAll(t.toTable(), all, dim);
      if ((c.serveTolerance ?? 0) === 0) expect(served).toEqual(trained);
      else expect(maxAbsDiff(served, trained)).toBeLessThanOrEqual(c.serveTolerance as number);
    });

    it('sums duplicate ids and updates only the rows it touched', () => {
      const t = make();
      const params = t.parameters().filter((p) => p.rowLength !== undefined);
      const before = params.map((p) => p.data.slice());
      const ids = Uint32Array.of(0, rows - 1, 0);
      const rng = new Rng(9);
      t.backward(
        ids,
        new Float32Array(ids.length * dim).map(() => rng.normal()),
      );
      const touched = new Map(
        t
          .gradients(ids, new Float32Array(ids.length * dim).fill(1))
          .filter((g) => g.rows !== undefined)
          .map((g) => [g.name, new Set(g.rows)]),
      );
      params.forEach((p, k) => {
        const L = p.rowLength as number;
        const allowed = touched.get(p.name) ?? new Set<number>();
        for (let r = 0; r < p.data.length / L; r += 1) {
          if (allowed.has(r)) continue;
          for (let j = 0; j < L; j += 1) {
            if (p.data[r * L + j] !== (before[k] as Float32Array)[r * L + j])
              throw new Error(`${p.name} row ${r} changed without appearing in the batch`);
          }
        }
      });
      // Duplicates: the gradient of a row is the sum over its occurrences.
      const g1 = t.gradients(Uint32Array.of(0, 0), new Float32Array(2 * dim).fill(0.5));
      const g2 = t.gradients(Uint32Array.of(0), new Float32Array(dim).fill(1));
      g1.forEach((g, k) =>
        expect(maxAbsDiff(g.values, (g2[k] as { values: Float32Array }).values)).toBeLessThan(1e-6),
      );
    });

    const check = c.gradientCheck ?? {};
    if ('skip' in check) {
      it.skip(`gradient check (not applicable: ${check.skip})`, () => undefined);
    } else {
      it('has gradients that match finite differences for every parameter', () => {
        const t = make();
        const rng = new Rng(13);
        // Move away from the (tiny) init so that products of parameters have non-zero gradients.
        for (const p of t.parameters())
          for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-0.5, 0.5);
        const ids = randomIds(rng, 6, rows);
        const R = new Float32Array(ids.length * dim).map(() => rng.normal());
        const loss = () => {
          const out = lookupAll(t, ids, dim);
          let sum = 0;
          for (let i = 0; i < out.length; i += 1) sum += (out[i] as number) * (R[i] as number);
          return sum;
        };
        const grads = t.gradients(ids, R);
        const h = check.step ?? 1e-2;
        for (const p of t.parameters()) {
          const g = grads.find((x) => x.name === p.name);
          expect(g).toBeDefined();
          const G = g as { rows?: Uint32Array; values: Float32Array };
          const L = p.rowLength;
          // Check up to 12 coordinates the gradient says are touched.
          const coords: Array<{ index: number; analytic: number }> = [];
          if (G.rows !== undefined && L !== undefined) {
            G.rows.forEach((row, r) => {
              for (let j = 0; j < L && coords.length < 12; j += 1)
                coords.push({ index: row * L + j, analytic: G.values[r * L + j] as number });
            });
          } else {
            for (let k = 0; k < 12; k += 1) {
              const index = rng.int(0, p.data.length);
              coords.push({ index, analytic: G.values[index] as number });
            }
          }
          for (const { index, analytic } of coords) {
            const original = p.data[index] as number;
            p.data[index] = original + h;
            const up = loss();
            p.data[index] = original - h;
            const down = loss();
            p.data[index] = original;
            const numeric = (up - down) / (2 * h);
            const tol =
              (check.absTol ?? 1e-3) +
              (check.relTol ?? 2e-2) * Math.max(Math.abs(numeric), Math.abs(analytic));
            if (Math.abs(numeric - analytic) > tol)
              throw new Error(`${p.name}[${index}]: analytic ${analytic} vs numeric ${numeric}`);
          }
        }
      });
    }

    it('refuses out-of-range ids in training too', () => {
      const t = make();
      const out = new Float32Array(dim);
      expect(() => t.forward(Uint32Array.of(rows), out)).toThrow(IdOutOfRangeError);
      expect(() => t.backward(Uint32Array.of(rows), out)).toThrow(IdOutOfRangeError);
    });

    it('estimateBytes equals the memory of the trainable form', () => {
      expect(make().memoryBytes()).toBe(method.estimateBytes(c.shape, resolved.params));
    });
  });

  describeServingChecks(resolved.spec, () => ({
    table: make().toTable(),
    estimate: method.estimateBytes(c.shape, resolved.params),
  }));

  if (isStagedMethod(method)) describeStages(c, frequencies);
}

/**
 * Staged methods: every stage is entered in order (as the engine does, with a few training steps
 * between), and in every stage the table serves what it trains and its serving table round-trips
 * through its artifact. The fake `evaluate` scores a lookup by a fixed random projection of its
 * rows, so a search stage sees different scores for different candidates.
 */
function describeStages(c: TrainableCase, frequencies: Uint32Array): void {
  const resolved = registry.resolve(c.spec);
  if (!isStagedMethod(resolved.method)) return;
  const method = resolved.method;
  const rows = totalRows(c.shape);
  const dim = c.shape.dim;
  const stages = method.stages(resolved.params);

  describe(`conformance: ${resolved.spec}: stages`, () => {
    it('declares at least one stage, each with a name', () => {
      expect(stages.length).toBeGreaterThan(0);
      for (const s of stages) expect(s.name.length).toBeGreaterThan(0);
    });

    it('serves what it trains in every stage, and each stage serving table round-trips', async () => {
      const opt = optimizer();
      const t: StagedTrainable = method.createTrainable(c.shape, resolved.params, {
        seed: 1,
        optimizer: opt,
        frequencies,
      });
      const rng = new Rng(17);
      const projection = new Float32Array(dim).map(() => rng.normal());
      const trainSome = (stage: (typeof stages)[number]) => {
        if (stage.end.kind === 'none') return;
        for (let step = 0; step < 4; step += 1) {
          opt.nextStep();
          const ids = randomIds(rng, 32, rows);
          t.backward(ids, new Float32Array(ids.length * dim).map(() => 0.1 * rng.normal()));
          if (stage.validationStep === true && t.validationStep !== undefined) {
            const v = randomIds(rng, 32, rows);
            t.validationStep(v, new Float32Array(v.length * dim).map(() => 0.1 * rng.normal()));
          }
        }
      };
      const all = Uint32Array.from({ length: Math.min(rows, 512) }, (_, i) => i);
      for (let index = 0; index < stages.length; index += 1) {
        const stage = stages[index] as (typeof stages)[number];
        if (index > 0) {
          const context: StageContext = {
            index,
            stage,
            seed: 1,
            plannedSteps: stage.end.kind === 'none' ? 0 : 4,
            optimizer: opt,
            frequencies,
            evaluate: async (lookup) => {
              const ids = randomIds(new Rng(23), 64, rows);
              const out = new Float32Array(ids.length * dim);
              lookup(ids, out);
              let score = 0;
              for (let i = 0; i < out.length; i += 1)
                score += (out[i] as number) * (projection[i % dim] as number);
              return { auc: 0.5 + Math.tanh(score) / 4, logloss: 0.69 };
            },
            log: () => undefined,
          };
          await t.enterStage(context);
        }
        trainSome(stage);
        if (stage.end.kind === 'target') expect(typeof t.stageDone?.()).toBe('boolean');
        if (stage.keep === 'meets-budget') expect(typeof t.meetsBudget?.()).toBe('boolean');
        const trained = lookupAll(t, all, dim);
        const table = t.toTable();
        const served = lookupAll(table, all, dim);
        if ((c.serveTolerance ?? 0) === 0) expect(served).toEqual(trained);
        else expect(maxAbsDiff(served, trained)).toBeLessThanOrEqual(c.serveTolerance as number);
        const loaded = registry.load(table.encode());
        expect(lookupAll(loaded, all, dim)).toEqual(served);
        expect(loaded.memoryBytes()).toBe(table.memoryBytes());
      }
    });
  });
}

/** N(0, 0.01²) rows, as the reference's post-training compressor tests. */
export function gaussianTable(rng: Rng, rows: number, dim: number, sigma = 0.01): Float32Array {
  return new Float32Array(rows * dim).map(() => sigma * rng.normal());
}

export function describeCodecConformance(c: CodecCase): void {
  const resolved = registry.resolve(c.spec);
  const method = resolved.method as CodecMethod;
  const rows = totalRows(c.shape);
  const dim = c.shape.dim;
  const data = (c.data ?? gaussianTable)(new Rng(21), rows, dim);
  const build = (seed = 1) => method.compress(data, c.shape, resolved.params, { seed });

  describe(`conformance: ${resolved.spec}`, () => {
    it('is a codec and its spec round-trips', () => {
      expect(method.kind).toBe('codec');
      expect(registry.resolve(resolved.spec).spec).toBe(resolved.spec);
      expect(build().spec).toBe(resolved.spec);
    });

    it('is deterministic for a seed', () => {
      expect(Buffer.from(build(2).encode()).equals(Buffer.from(build(2).encode()))).toBe(true);
    });

    it(`reconstructs within ${c.maxRelativeError} relative Frobenius error`, () => {
      const all = Uint32Array.from({ length: rows }, (_, i) => i);
      const decoded = lookupAll(build(), all, dim);
      let num = 0;
      let den = 0;
      for (let i = 0; i < data.length; i += 1) {
        num += ((decoded[i] as number) - (data[i] as number)) ** 2;
        den += (data[i] as number) ** 2;
      }
      expect(Math.sqrt(num / den)).toBeLessThanOrEqual(c.maxRelativeError);
    });
  });

  describeServingChecks(resolved.spec, () => ({
    table: build(),
    estimate: method.estimateBytes(c.shape, resolved.params),
  }));
}
