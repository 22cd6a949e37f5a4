import { describeCodecConformance } from '../conformance/suite';
import { readArtifact, writeArtifact } from '../core/artifact';
import { ArtifactError, IdOutOfRangeError, SpecError } from '../core/errors';
import type { CodecMethod, CompressedTable, Metric } from '../core/method';
import { Rng } from '../core/rng';
import { registry } from '../methods';
import type { IvfTable } from './ivf';
import { exactSearch } from './topk';

/** Unit vectors around `clusters` random centres: the data an inverted file is made for. */
function clustered(rng: Rng, rows: number, dim: number, clusters = 12): Float32Array {
  const centres = new Float32Array(clusters * dim).map(() => rng.normal());
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r += 1) {
    const c = rng.int(0, clusters);
    let norm = 0;
    for (let j = 0; j < dim; j += 1) {
      const v = (centres[c * dim + j] as number) + 0.3 * rng.normal();
      out[r * dim + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < dim; j += 1)
      out[r * dim + j] = (out[r * dim + j] as number) / Math.sqrt(norm);
  }
  return out;
}

const shape = { fields: [50, 7, 300], dim: 8 };
describeCodecConformance({
  spec: 'ivf(nlist=16,nprobe=4)|rowwise-int8',
  shape,
  maxRelativeError: 0.01, // the rowwise-int8 codes' error; the coarse index loses nothing
});
describeCodecConformance({ spec: 'ivf(nlist=8,nprobe=2)|fp16', shape, maxRelativeError: 1e-3 });
describeCodecConformance({
  spec: 'ivf(nlist=8)|pq(subvectors=4,bits=4)',
  shape,
  maxRelativeError: 0.75,
});
// More lists than rows: one list per row.
describeCodecConformance({
  spec: 'ivf(nlist=64,nprobe=64)',
  shape: { fields: [20], dim: 5 },
  maxRelativeError: 0.01,
});

const dim = 16;
const rows = 600;
const data = clustered(new Rng(3), rows, dim);
const queries = clustered(new Rng(4), 25, dim);

function build(spec: string, table = data, rowCount = rows): IvfTable {
  const { method, params } = registry.resolve(spec);
  return (method as CodecMethod).compress(table, { fields: [rowCount], dim }, params, {
    seed: 1,
  }) as IvfTable;
}

function compressed(spec: string): CompressedTable {
  const { method, params } = registry.resolve(spec);
  return (method as CodecMethod).compress(data, { fields: [rows], dim }, params, { seed: 1 });
}

function recall(found: Uint32Array, exact: Uint32Array, k: number): number {
  let hits = 0;
  for (let q = 0; q < found.length / k; q += 1) {
    const truth = new Set(exact.subarray(q * k, (q + 1) * k));
    for (const id of found.subarray(q * k, (q + 1) * k)) if (truth.has(id)) hits += 1;
  }
  return hits / found.length;
}

describe('ivf', () => {
  it('resolves the hybrid spec with rowwise-int8 as the default inner codec', () => {
    expect(registry.resolve('ivf(nlist=32,nprobe=4)|rowwise-int8').spec).toBe(
      'ivf(nlist=32,nprobe=4,iterations=10,trainPerList=256)|rowwise-int8',
    );
    expect(registry.resolve('ivf').spec).toBe(
      'ivf(nlist=256,nprobe=8,iterations=10,trainPerList=256)|rowwise-int8',
    );
    expect(registry.resolve('ivf(nlist=4)|pq(subvectors=2)').spec).toBe(
      'ivf(nlist=4,nprobe=8,iterations=10,trainPerList=256)|pq(subvectors=2,bits=8,iterations=20,trainRows=65536)',
    );
  });

  it('refuses inner codecs it cannot scan', () => {
    expect(() => registry.resolve('ivf|rowwise-int4')).toThrow(/cannot be scanned by list/);
    expect(() => registry.resolve('ivf|prune')).toThrow(SpecError);
    expect(() => registry.resolve('ivf(nlist=0)')).toThrow(SpecError);
  });

  it('stores every row once, grouped by list, and looks rows up in original id order', () => {
    const t = build('ivf(nlist=12,nprobe=3)|fp16');
    const sizes = t.listSizes();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(rows);
    expect(t.lists).toBe(12);
    const ids = Uint32Array.of(5, 0, 599, 5, 123);
    const viaIvf = new Float32Array(ids.length * dim);
    t.lookup(ids, viaIvf);
    const plain = compressed('fp16');
    const viaFp16 = new Float32Array(ids.length * dim);
    plain.lookup(ids, viaFp16);
    expect(viaIvf).toEqual(viaFp16);
    expect(() => t.lookup(Uint32Array.of(rows), new Float32Array(dim))).toThrow(IdOutOfRangeError);
  });

  it('sends wire codes of the inner codec in original id order', () => {
    const t = build('ivf(nlist=12)|rowwise-int8');
    const plain = compressed('rowwise-int8');
    const ids = Uint32Array.of(9, 3, 3, 598);
    expect(t.wire?.codec).toBe('rowwise-int8');
    expect(Buffer.from(t.wire?.encode(ids) ?? [])).toEqual(
      Buffer.from(plain.wire?.encode(ids) ?? []),
    );
  });

  for (const inner of ['rowwise-int8', 'fp16', 'pq(subvectors=4,bits=6)']) {
    for (const metric of ['inner-product', 'l2'] as Metric[]) {
      it(`${inner}, ${metric}: nprobe = nlist is exactly the inner codec's exhaustive search`, () => {
        const t = build(`ivf(nlist=10,nprobe=2)|${inner}`);
        const all = t.search(queries, 7, metric, { nprobe: 10 });
        // Row-wise codecs code a row the same wherever it is stored: compare with the plain table.
        // pq trains its codebooks on the stored order: compare with the ivf's own inner table
        // (its ids are stored positions; map them back).
        const exhaustive = inner.startsWith('pq')
          ? t.innerTable.search?.(queries, 7, metric)
          : compressed(inner).search?.(queries, 7, metric);
        const ids = inner.startsWith('pq')
          ? (exhaustive?.ids ?? new Uint32Array()).map((p) => t.storedIds()[p] as number)
          : exhaustive?.ids;
        expect(all.ids).toEqual(ids);
        // The scans use the inner codec's formula and summation order (today: bit-identical);
        // allow float rounding so that a faster inner scan does not break this test.
        const reference = exhaustive?.scores ?? new Float32Array();
        const scale = Math.max(...reference.map(Math.abs));
        all.scores.forEach((s, i) =>
          expect(Math.abs(s - (reference[i] as number))).toBeLessThanOrEqual(1e-5 * scale),
        );
        // Asking for more lists than there are is the same search.
        expect(t.search(queries, 7, metric, { nprobe: 1000 }).ids).toEqual(all.ids);
      });
    }
  }

  it('scans fewer lists with a smaller nprobe, recall rising to the exhaustive scan', () => {
    const t = build('ivf(nlist=24,nprobe=2)|rowwise-int8');
    const exact = exactSearch(data, dim, queries, 10, 'inner-product').ids;
    const recalls = [1, 2, 6, 24].map((nprobe) =>
      recall(t.search(queries, 10, 'inner-product', { nprobe }).ids, exact, 10),
    );
    for (let i = 1; i < recalls.length; i += 1)
      expect(recalls[i] as number).toBeGreaterThanOrEqual((recalls[i - 1] as number) - 0.02);
    expect(recalls[3]).toBeGreaterThanOrEqual(0.95);
    expect(recalls[2]).toBeGreaterThanOrEqual(0.9);
    // nprobe 0 / absent: the spec's default (2).
    expect(t.search(queries, 10, 'inner-product', { nprobe: 0 }).ids).toEqual(
      t.search(queries, 10, 'inner-product', { nprobe: 2 }).ids,
    );
    expect(t.search(queries, 10, 'inner-product').ids).toEqual(
      t.search(queries, 10, 'inner-product', { nprobe: 2 }).ids,
    );
  });

  it('scans further lists when the probed ones hold fewer than k rows', () => {
    const t = build('ivf(nlist=24,nprobe=1)|rowwise-int8');
    const largest = Math.max(...t.listSizes());
    const k = largest + 5;
    const hits = t.search(queries, k, 'inner-product', { nprobe: 1 });
    for (let q = 0; q < queries.length / dim; q += 1) {
      const found = hits.ids.subarray(q * k, (q + 1) * k);
      expect(new Set(found).size).toBe(k);
      const s = hits.scores.subarray(q * k, (q + 1) * k);
      for (let i = 1; i < k; i += 1) expect(s[i] as number).toBeLessThanOrEqual(s[i - 1] as number);
    }
  });

  it('returns original ids: a stored row finds itself first', () => {
    const t = build('ivf(nlist=16,nprobe=1)|fp16');
    for (const id of [0, 17, 311, 599]) {
      const hits = t.search(data.slice(id * dim, (id + 1) * dim), 1, 'l2', { nprobe: 1 });
      expect(hits.ids[0]).toBe(id);
    }
  });

  it('refuses a bad nprobe and bad search arguments', () => {
    const t = build('ivf(nlist=8)');
    expect(() => t.search(queries, 3, 'inner-product', { nprobe: -1 })).toThrow(RangeError);
    expect(() => t.search(queries, 3, 'inner-product', { nprobe: 1.5 })).toThrow(RangeError);
    expect(() => t.search(queries.subarray(0, 5), 3, 'l2')).toThrow(RangeError);
    expect(() => t.search(queries, 0, 'l2')).toThrow(RangeError);
  });

  it('answers each search as a fresh table would, whatever the searches before it (reused buffers)', () => {
    // One table serves every search with the same buffers: alternating k, metric, nprobe and
    // inner codec, and a search that failed, must not leak into the next answer.
    for (const spec of ['ivf(nlist=12)|rowwise-int8', 'ivf(nlist=12)|fp16']) {
      const shared = build(spec);
      const calls: [number, Metric, number][] = [
        [10, 'inner-product', 3],
        [3, 'l2', 12],
        [25, 'inner-product', 1],
        [1, 'l2', 2],
        [10, 'inner-product', 3],
      ];
      for (const [k, metric, nprobe] of calls) {
        expect(() => shared.search(queries, k, metric, { nprobe: -1 })).toThrow(RangeError);
        const got = shared.search(queries, k, metric, { nprobe });
        const fresh = build(spec).search(queries, k, metric, { nprobe });
        expect(Array.from(got.ids)).toEqual(Array.from(fresh.ids));
        expect(Array.from(got.scores)).toEqual(Array.from(fresh.scores));
      }
    }
  });
  it('counts its index in memoryBytes exactly', () => {
    const t = build('ivf(nlist=12)|rowwise-int8');
    const inner = compressed('rowwise-int8').memoryBytes();
    // centroids 12×16×4 + offsets 13×4 + ids and their inverse 2×600×4
    expect(t.memoryBytes()).toBe(inner + 12 * dim * 4 + 13 * 4 + 2 * rows * 4);
    expect(t.describe().notes.join(' ')).toMatch(/12 lists over rowwise-int8 codes/);
  });

  it('refuses an artifact whose ids are not a permutation or whose offsets are inconsistent', () => {
    const t = build('ivf(nlist=6)|fp16');
    const content = readArtifact(t.encode());
    const tamper = (name: string, edit: (a: Uint32Array) => void) => {
      const sections = new Map(content.sections);
      const copy = (content.sections.get(name) as Uint32Array).slice();
      edit(copy);
      sections.set(name, copy);
      return writeArtifact({ ...content, sections });
    };
    expect(() =>
      registry.load(
        tamper('ids', (a) => {
          a[1] = a[0] as number;
        }),
      ),
    ).toThrow(/not a permutation/);
    expect(() =>
      registry.load(
        tamper('offsets', (a) => {
          a[6] = 5;
        }),
      ),
    ).toThrow(ArtifactError);
    expect(() =>
      registry.load(
        tamper('offsets', (a) => {
          const x = a[2] as number;
          a[2] = a[3] as number;
          a[3] = x - 1;
        }),
      ),
    ).toThrow(ArtifactError);
  });
});
