// `ivf`: an inverted-file coarse index over another codec's codes (FAISS IndexIVF; Jégou, Douze,
// Schmid, "Product Quantization for Nearest Neighbor Search", TPAMI 2011, §IV-A). Training runs
// k-means on a seeded sample of the fp32 rows (nlist centroids), assigns every row to its nearest
// centroid and stores the rows reordered by list, so each list is one contiguous block of the
// inner codec's table. Search ranks the lists by the query's score against their centroids and
// scans only the `nprobe` best lists' codes; nprobe = nlist scans everything and returns exactly
// the inner codec's exhaustive search. Lookup decodes rows in original id order.
//
// Spec: `ivf(nlist=N,nprobe=P)|rowwise-int8` (inner codec: rowwise-int8 (default), fp16 or pq(...)).
// Artifact layout (docs/adr/0008): sections `centroids` f32 (lists × dim), `offsets` u32
// (lists + 1), `ids` u32 (original id of each stored row), then the inner codec's own sections
// named `values.<name>`; lists = min(nlist, rows).
import { kernels } from '@embpress/kernels';
import { z } from 'zod';
import {
  artifactParams,
  readArtifact,
  section,
  writeArtifact,
  type ArtifactContent,
  type TypedArray,
} from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError, SpecError } from '../core/errors';
import { checkIds } from '../core/ids';
import type {
  CodecMethod,
  CompressedTable,
  CompressOptions,
  Metric,
  SearchHits,
  SearchOptions,
  WireCodes,
} from '../core/method';
import { INNER_PARAM } from '../core/registry';
import { Rng } from '../core/rng';
import { formatOne, parseSpec } from '../core/spec';
import { totalRows, validateShape, type TableShape } from '../core/shape';
import { fp16, Fp16Table } from './fp16';
import { kernelScanner, pqScanner, type RangeScanner } from './ivf-scan';
import { kernelMetric, LazyPin, negate } from './kernel-tables';
import { checkTable } from './linalg';
import { pq, pqLayout, type PqParams } from './pq';
import { squaredNorms, coarseKmeans, nearestCentroids } from './ivf-kmeans';
import { sampleRows } from './pq-kmeans';
import { rowwiseInt8, RowwiseInt8Table } from './rowwise';
import { planSearch, TopK } from './topk';

const ID = 'ivf';
const INNER_PREFIX = `${INNER_PARAM}.`;

/** The inner codecs an ivf table can hold (those whose codes can be scanned by range). */
const INNER_METHODS = new Map<string, CodecMethod>([
  [rowwiseInt8.id, rowwiseInt8 as unknown as CodecMethod],
  [fp16.id, fp16 as unknown as CodecMethod],
  [pq.id, pq as unknown as CodecMethod],
]);

interface InnerCodec {
  method: CodecMethod;
  params: Record<string, unknown>;
  /** Canonical spec of the inner codec (every parameter). */
  spec: string;
}

/** Resolves the inner codec spec (`rowwise-int8`, `fp16`, `pq(subvectors=8)`); SpecError if not one. */
export function resolveInner(spec: string): InnerCodec {
  const parts = parseSpec(spec);
  const head = parts[0];
  if (parts.length !== 1 || head === undefined)
    throw new SpecError(`ivf: the inner codec must be one codec, got "${spec}"`);
  const method = INNER_METHODS.get(head.id);
  if (method === undefined)
    throw new SpecError(
      `ivf: inner codec "${head.id}" cannot be scanned by list; use one of ${[...INNER_METHODS.keys()].join(', ')}`,
    );
  const parsed = method.params.safeParse(head.params);
  if (!parsed.success)
    throw new SpecError(
      `ivf: inner ${head.id}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ')}`,
    );
  const params = parsed.data as Record<string, unknown>;
  return { method, params, spec: formatOne(method.id, params) };
}

const params = z
  .object({
    /** Coarse lists (k-means centroids); a table with fewer rows gets one list per row. */
    nlist: z.number().int().min(1).max(65_536).default(256),
    /**
     * Lists scanned by a search that does not say (search option `nprobe` overrides it); at most
     * the lists there are (nprobe >= nlist scans every list).
     */
    nprobe: z.number().int().min(1).max(65_536).default(8),
    /** Lloyd iterations of the coarse k-means (stops earlier when no assignment changes). */
    iterations: z.number().int().min(0).max(1000).default(10),
    /**
     * k-means trains on a seeded sample of trainPerList · nlist rows (all rows when fewer):
     * FAISS's max_points_per_centroid, 256 (docs/methods/ivf.md).
     */
    trainPerList: z.number().int().min(1).max(4096).default(256),
    /** Inner codec of the stored rows (hybrid `ivf(...)|codec`). */
    [INNER_PARAM]: z
      .string()
      .default(rowwiseInt8.id)
      .superRefine((v, ctx) => {
        try {
          resolveInner(v);
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        }
      }),
  })
  .strict();
export type IvfParams = z.infer<typeof params>;

function formatSpec(p: IvfParams): string {
  const own = formatOne(ID, {
    nlist: p.nlist,
    nprobe: p.nprobe,
    iterations: p.iterations,
    trainPerList: p.trainPerList,
  });
  return `${own}|${resolveInner(p.values).spec}`;
}

/** Lists actually built: one per row at most. */
export function ivfLists(rows: number, nlist: number): number {
  return Math.min(rows, nlist);
}

function innerShape(rows: number, dim: number): TableShape {
  return { fields: [rows], dim };
}

/** Bytes of the coarse index: centroids, list offsets, stored-row ids and their inverse. */
function indexBytes(rows: number, dim: number, lists: number): number {
  return lists * dim * 4 + (lists + 1) * 4 + rows * 4 * 2;
}

function estimateBytes(shape: TableShape, p: IvfParams): number {
  validateShape(shape);
  const rows = totalRows(shape);
  const inner = resolveInner(p.values);
  return (
    indexBytes(rows, shape.dim, ivfLists(rows, p.nlist)) +
    inner.method.estimateBytes(innerShape(rows, shape.dim), inner.params)
  );
}

function paperWords(shape: TableShape, p: IvfParams): number {
  const rows = totalRows(shape);
  const inner = resolveInner(p.values);
  const lists = ivfLists(rows, p.nlist);
  return (
    inner.method.paperWords(innerShape(rows, shape.dim), inner.params) +
    lists * shape.dim +
    lists +
    1 +
    rows
  );
}

/** The reusable buffers of IvfTable.search. */
interface SearchScratch {
  /** One score per list (the centroid ranking's output). */
  listScores: Float32Array;
  /** [start, count] of each probed list; at most every list. */
  ranges: Uint32Array;
  /** The scanner of each metric: [inner product, L2]. */
  scanners: [RangeScanner | undefined, RangeScanner | undefined];
  heap: TopK;
}

/** Validated coarse index of a table (from training or from an artifact). */
interface CoarseIndex {
  centroids: Float32Array;
  offsets: Uint32Array;
  /** Original id of each stored row. */
  ids: Uint32Array;
}

export class IvfTable implements CompressedTable {
  readonly method = ID;
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  /** Lists of the coarse index (min(nlist, rows)). */
  readonly lists: number;
  readonly wire?: WireCodes;
  private readonly centroids: Float32Array;
  private readonly offsets: Uint32Array;
  private readonly ids: Uint32Array;
  /** Stored position of each original id. */
  private readonly positions: Uint32Array;
  private readonly innerCodec: InnerCodec;
  /** The centroids in kernel memory, pinned on the first search (kernel-tables.ts). */
  private readonly pinnedCentroids: LazyPin<Float32Array>;
  /**
   * Buffers every search reuses (search is synchronous, so one set per table is enough). A search
   * that allocated them afresh made ~6 KB of array buffers and ~10 KB of heap per query, and the
   * garbage collections that followed were a good part of the IVF search's p99
   * (docs/benchmarks.md).
   */
  private scratch: SearchScratch | undefined;

  constructor(
    readonly shape: TableShape,
    readonly params: IvfParams,
    index: CoarseIndex,
    /** The inner codec's table over the stored (list-ordered) rows. */
    private readonly inner: CompressedTable,
    /** The inner table's artifact sections (the codes the scans read). */
    private readonly innerSections: ReadonlyMap<string, TypedArray>,
  ) {
    this.spec = formatSpec(params);
    this.innerCodec = resolveInner(params.values);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.centroids = index.centroids;
    this.offsets = index.offsets;
    this.ids = index.ids;
    this.lists = index.offsets.length - 1;
    this.positions = inversePermutation(index.ids);
    this.pinnedCentroids = new LazyPin(index.centroids);
    const innerWire = inner.wire;
    if (innerWire !== undefined)
      this.wire = {
        codec: innerWire.codec,
        encode: (ids) => innerWire.encode(this.toPositions(ids)),
      };
  }

  /** Stored positions of original ids (checked against the table's rows first). */
  private toPositions(ids: Uint32Array): Uint32Array {
    checkIds(ids, this.rows);
    const out = new Uint32Array(ids.length);
    const positions = this.positions;
    for (let i = 0; i < ids.length; i += 1) out[i] = positions[ids[i] as number] as number;
    return out;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    this.inner.lookup(this.toPositions(ids), out);
  }

  /** The inner codec's table (rows in stored, list-major order). */
  get innerTable(): CompressedTable {
    return this.inner;
  }

  /** Original id of each stored row (list-major order), for inspection; do not modify. */
  storedIds(): Uint32Array {
    return this.ids;
  }

  /** Rows of each list (stored order), for inspection. */
  listSizes(): Uint32Array {
    const sizes = new Uint32Array(this.lists);
    for (let l = 0; l < this.lists; l += 1)
      sizes[l] = (this.offsets[l + 1] as number) - (this.offsets[l] as number);
    return sizes;
  }

  /**
   * Top-k over the codes of the `nprobe` lists whose centroids score best against each query
   * (inner product: highest ⟨q, c⟩; L2: smallest ‖q − c‖²). nprobe defaults to the spec's and is
   * clamped to the lists; nprobe = lists is the inner codec's exhaustive search. When the probed
   * lists hold fewer than k rows, the next best lists are scanned too: a search always returns k.
   */
  search(queries: Float32Array, k: number, metric: Metric, options?: SearchOptions): SearchHits {
    const dim = this.dim;
    const plan = planSearch(this.spec, queries, dim, this.rows, k, metric);
    const nprobe = this.probes(options?.nprobe);
    const l2 = metric === 'l2';
    const scratch = (this.scratch ??= {
      listScores: new Float32Array(this.lists),
      ranges: new Uint32Array(2 * this.lists),
      scanners: [undefined, undefined],
      heap: new TopK(plan.k),
    });
    const scanner = (scratch.scanners[l2 ? 1 : 0] ??= this.scanner(l2));
    if (scratch.heap.k !== plan.k) scratch.heap = new TopK(plan.k);
    const { heap, listScores } = scratch;
    const ids = new Uint32Array(plan.queries * plan.k);
    const scores = new Float32Array(plan.queries * plan.k);
    for (let q = 0; q < plan.queries; q += 1) {
      const qo = q * dim;
      scanner.setQuery(queries, qo);
      heap.reset(); // a search that threw may have left candidates in the reused heap
      if (nprobe === this.lists) {
        scanner.scan(Uint32Array.of(0, this.rows), this.ids, heap);
      } else {
        let chosen = this.rankLists(queries.subarray(qo, qo + dim), metric, listScores, nprobe);
        let count = nprobe;
        if (this.rowsIn(chosen, count) < plan.k) {
          // Rare (tiny lists, large k): rank every list and take them in order until k rows.
          chosen = this.rankLists(queries.subarray(qo, qo + dim), metric, listScores, this.lists);
          while (this.rowsIn(chosen, count) < plan.k) count += 1;
        }
        // The probed lists as [start, count] ranges of stored rows, scanned in one call.
        const ranges = scratch.ranges.subarray(0, 2 * count);
        for (let i = 0; i < count; i += 1) {
          const list = chosen[i] as number;
          const start = this.offsets[list] as number;
          ranges[2 * i] = start;
          ranges[2 * i + 1] = (this.offsets[list + 1] as number) - start;
        }
        scanner.scan(ranges, this.ids, heap);
      }
      heap.drain(ids, scores, q * plan.k, l2);
    }
    return { ids, scores };
  }

  /** Rows held by the first `count` lists of `lists`. */
  private rowsIn(lists: Uint32Array, count: number): number {
    let rows = 0;
    for (let i = 0; i < count; i += 1) {
      const l = lists[i] as number;
      rows += (this.offsets[l + 1] as number) - (this.offsets[l] as number);
    }
    return rows;
  }

  private probes(requested: number | undefined): number {
    if (requested === undefined || requested === 0) return Math.min(this.params.nprobe, this.lists);
    if (!Number.isInteger(requested) || requested < 0)
      throw new RangeError(`${ID} search: nprobe must be a positive integer, got ${requested}`);
    return Math.min(requested, this.lists);
  }

  /**
   * The `count` lists whose centroids score best against the query, best first (inner product:
   * highest ⟨q, c⟩; L2: smallest ‖q − c‖²; ties: lower list): the kernels' scoreF32 over the
   * pinned centroids, then their top-k. This is the fixed cost of every search.
   */
  private rankLists(
    query: Float32Array,
    metric: Metric,
    scores: Float32Array,
    count: number,
  ): Uint32Array {
    const k = kernels();
    k.scoreF32(kernelMetric(metric), query, this.pinnedCentroids.get(), { out: scores });
    if (metric === 'l2') negate(scores);
    return k.topK(scores, count).indices;
  }

  private scanner(l2: boolean): RangeScanner {
    const inner = this.innerCodec;
    const rows = this.rows;
    const dim = this.dim;
    // The row codecs' scans read the inner table's own pin: one kernel copy serves the scans,
    // the inner table's exhaustive search and its batch lookups.
    if (this.inner instanceof RowwiseInt8Table)
      return kernelScanner('rowwise-int8', this.inner.pinned, dim, l2);
    if (this.inner instanceof Fp16Table) return kernelScanner('fp16', this.inner.pinned, dim, l2);
    const content = { method: inner.method.id, sections: this.innerSections } as ArtifactContent;
    const layout = pqLayout(innerShape(rows, dim), inner.params as PqParams);
    return pqScanner(
      section(content, 'codes', 'u8', rows * layout.subvectors),
      section(content, 'codebooks', 'f32', layout.centroids * dim),
      layout,
      l2,
    );
  }

  memoryBytes(): number {
    return (
      this.centroids.byteLength +
      this.offsets.byteLength +
      this.ids.byteLength +
      this.positions.byteLength +
      this.inner.memoryBytes()
    );
  }

  describe() {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      paperWords(this.shape, this.params),
      [
        `${this.lists} lists over ${this.innerCodec.spec} codes; search scans nprobe lists (default ${Math.min(this.params.nprobe, this.lists)})`,
        'coarse index bytes counted: fp32 centroids, u32 list offsets, u32 stored-row ids and their inverse',
      ],
    );
  }

  encode(): Uint8Array {
    const sections = new Map<string, TypedArray>([
      ['centroids', this.centroids],
      ['offsets', this.offsets],
      ['ids', this.ids],
    ]);
    for (const [name, array] of this.innerSections) sections.set(`${INNER_PREFIX}${name}`, array);
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params, [INNER_PARAM]: this.innerCodec.spec },
      shape: this.shape,
      sections,
    });
  }
}

/** position[id] for a permutation `ids` of [0, n); ArtifactError when it is not one. */
function inversePermutation(ids: Uint32Array): Uint32Array {
  const n = ids.length;
  const positions = new Uint32Array(n).fill(0xffffffff);
  for (let p = 0; p < n; p += 1) {
    const id = ids[p] as number;
    if (id >= n || positions[id] !== 0xffffffff)
      throw new ArtifactError('malformed', `${ID}: stored ids are not a permutation (id ${id})`);
    positions[id] = p;
  }
  return positions;
}

/** Stable counting sort of rows by list: offsets and the original id at each stored position. */
function groupByList(
  assignment: Uint32Array,
  lists: number,
): { offsets: Uint32Array; ids: Uint32Array } {
  const offsets = new Uint32Array(lists + 1);
  for (let r = 0; r < assignment.length; r += 1) {
    const l = assignment[r] as number;
    offsets[l + 1] = (offsets[l + 1] as number) + 1;
  }
  for (let l = 0; l < lists; l += 1)
    offsets[l + 1] = (offsets[l + 1] as number) + (offsets[l] as number);
  const next = offsets.slice(0, lists);
  const ids = new Uint32Array(assignment.length);
  for (let r = 0; r < assignment.length; r += 1) {
    const l = assignment[r] as number;
    ids[next[l] as number] = r;
    next[l] = (next[l] as number) + 1;
  }
  return { offsets, ids };
}

function compress(
  table: Float32Array,
  shape: TableShape,
  p: IvfParams,
  options: CompressOptions,
): IvfTable {
  const rows = checkTable(ID, table, shape);
  const dim = shape.dim;
  const inner = resolveInner(p.values);
  const lists = ivfLists(rows, p.nlist);
  const rng = new Rng(options.seed);
  const sample = sampleRows(rows, Math.min(rows, p.trainPerList * lists), rng);
  const points = new Float32Array(sample.length * dim);
  for (let i = 0; i < sample.length; i += 1) {
    const src = (sample[i] as number) * dim;
    points.set(table.subarray(src, src + dim), i * dim);
  }
  // Every row to its nearest centroid (L2): the list it is stored in. When every row trained,
  // k-means' own last assignment is that (its bounds spare a full pass; docs/methods/ivf.md).
  const assignment = new Uint32Array(rows);
  const trained = sample.length === rows ? new Uint32Array(rows) : undefined;
  const centroids = coarseKmeans(points, sample.length, dim, lists, p.iterations, rng, {
    assignment: trained,
  });
  if (trained !== undefined)
    for (let i = 0; i < rows; i += 1) assignment[sample[i] as number] = trained[i] as number;
  else
    nearestCentroids(
      table,
      rows,
      dim,
      centroids,
      lists,
      squaredNorms(centroids, lists, dim),
      assignment,
    );
  const { offsets, ids } = groupByList(assignment, lists);
  const reordered = new Float32Array(rows * dim);
  for (let pos = 0; pos < rows; pos += 1) {
    const src = (ids[pos] as number) * dim;
    reordered.set(table.subarray(src, src + dim), pos * dim);
  }
  const innerTable = inner.method.compress(reordered, innerShape(rows, dim), inner.params, {
    seed: options.seed,
  });
  // The inner table is rebuilt from its own artifact so that it and the scans share one buffer.
  const content = readArtifact(innerTable.encode(), { trustChecksums: true });
  return new IvfTable(
    shape,
    { ...p, [INNER_PARAM]: inner.spec },
    { centroids, offsets, ids },
    inner.method.loadTable(content),
    content.sections,
  );
}

function loadTable(content: ArtifactContent): IvfTable {
  const p = artifactParams(content, params);
  const shape = content.shape;
  const rows = totalRows(shape);
  const dim = shape.dim;
  if (content.spec !== formatSpec(p))
    throw new ArtifactError('malformed', `${ID}: spec "${content.spec}" does not match its params`);
  const inner = resolveInner(p.values);
  const lists = ivfLists(rows, p.nlist);
  const centroids = section(content, 'centroids', 'f32', lists * dim);
  const offsets = section(content, 'offsets', 'u32', lists + 1);
  const ids = section(content, 'ids', 'u32', rows);
  if (offsets[0] !== 0 || offsets[lists] !== rows)
    throw new ArtifactError('malformed', `${ID}: list offsets do not span the ${rows} rows`);
  for (let l = 0; l < lists; l += 1)
    if ((offsets[l + 1] as number) < (offsets[l] as number))
      throw new ArtifactError('malformed', `${ID}: list offsets decrease at list ${l}`);
  const innerSections = new Map<string, TypedArray>();
  for (const [name, array] of content.sections)
    if (name.startsWith(INNER_PREFIX)) innerSections.set(name.slice(INNER_PREFIX.length), array);
  const innerContent: ArtifactContent = {
    method: inner.method.id,
    spec: inner.spec,
    params: inner.params,
    shape: innerShape(rows, dim),
    sections: innerSections,
  };
  return new IvfTable(
    shape,
    p,
    { centroids, offsets, ids },
    inner.method.loadTable(innerContent),
    innerSections,
  );
}

export const ivf: CodecMethod<IvfParams> = {
  kind: 'codec',
  id: ID,
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'quantization' },
  title:
    'Inverted-file coarse index (k-means lists) over rowwise-int8/fp16/pq codes; nprobe search',
  paper:
    'FAISS IndexIVF (Jégou, Douze, Schmid, "Product Quantization for Nearest Neighbor Search", TPAMI 2011; Johnson, Douze, Jégou, "Billion-scale similarity search with GPUs", 2017)',
  params,
  estimateBytes,
  paperWords,
  compress,
  loadTable,
};
