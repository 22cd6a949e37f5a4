// What `dpq` and `mgqe` share (docs/methods/dpq.md, docs/methods/mgqe.md): the layout of a
// code-book table and its serving form. A table is cut into groups of consecutive global ids —
// one group for dpq's single table, one per field for mgqe. A quantized group stores P codes per
// id (u8 when K ≤ 256, else u16) and P codebooks of K centroids of width p = D/P; a row is the
// concatenation of its P coded centroids, a gather with no arithmetic. A "full" group (an mgqe
// field too small for its codebooks to pay off) stores plain fp32 rows.
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError, SpecError } from '../core/errors';
import { checkIds } from '../core/ids';
import type { CompressedTable, TableDescription } from '../core/method';
import { fieldOf, totalRows, validateShape, type TableShape } from '../core/shape';

export interface CodebookGroup {
  /** Artifact section prefix: '' for dpq's one table, 'f3.' for mgqe's field 3. */
  readonly prefix: string;
  /** Global id of the group's first row. */
  readonly start: number;
  readonly rows: number;
  /** Codes + codebooks, or plain fp32 rows. */
  readonly quantized: boolean;
  /** Centroids per part (codebook size); 0 for a full group. */
  readonly K: number;
}

export interface CodebookLayout {
  readonly dim: number;
  /** P: parts per row. */
  readonly parts: number;
  /** p = D / P: width of one centroid. */
  readonly partDim: number;
  readonly groups: readonly CodebookGroup[];
  /** Group start ids (length groups + 1, the last entry is the total), for `fieldOf`. */
  readonly starts: Float64Array;
}

/** Checks D % P and builds the layout of `groups` (shape already validated by the caller). */
export function codebookLayout(
  shape: TableShape,
  parts: number,
  groups: CodebookGroup[],
): CodebookLayout {
  validateShape(shape);
  if (!(Number.isInteger(parts) && parts >= 1 && shape.dim % parts === 0))
    throw new SpecError(`parts ${parts} must divide dim ${shape.dim}`);
  const starts = new Float64Array(groups.length + 1);
  groups.forEach((g, i) => (starts[i] = g.start));
  starts[groups.length] = totalRows(shape);
  return { dim: shape.dim, parts, partDim: shape.dim / parts, groups, starts };
}

/** Bytes of one code: u8 up to 256 centroids, u16 beyond. */
export function codeBytes(K: number): number {
  return K <= 256 ? 1 : 2;
}

/** Bytes a group holds: rows·P codes + P·K·p fp32 centroids, or rows·D fp32 values. */
export function groupBytes(l: CodebookLayout, g: CodebookGroup): number {
  if (!g.quantized) return g.rows * l.dim * 4;
  return g.rows * l.parts * codeBytes(g.K) + g.K * l.dim * 4;
}

export function layoutBytes(l: CodebookLayout): number {
  let bytes = 0;
  for (const g of l.groups) bytes += groupBytes(l, g);
  return bytes;
}

export type Codes = Uint8Array | Uint16Array;

/** The stored arrays of one group. */
export type GroupData =
  | { codes: Codes; codebooks: Float32Array; table?: undefined }
  | { table: Float32Array; codes?: undefined; codebooks?: undefined };

export function newCodes(K: number, length: number): Codes {
  return codeBytes(K) === 1 ? new Uint8Array(length) : new Uint16Array(length);
}

/**
 * Rows of `ids` into `out` by gather: concat_i C[i·K + B[x, i]] (codebooks part-major, K·p values
 * per part) or the full row. The one lookup of both forms (training's `forward` and serving).
 */
export function gatherRows(
  l: CodebookLayout,
  data: readonly GroupData[],
  ids: Uint32Array,
  out: Float32Array,
): void {
  const { dim: D, parts: P, partDim: p, starts } = l;
  const single = l.groups.length === 1;
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    const gi = single ? 0 : fieldOf(starts, id);
    const g = l.groups[gi] as CodebookGroup;
    const d = data[gi] as GroupData;
    const x = id - g.start;
    let o = i * D;
    if (d.table !== undefined) {
      const src = x * D;
      for (let j = 0; j < D; j += 1) out[o + j] = d.table[src + j] as number;
      continue;
    }
    const { codes, codebooks } = d;
    for (let part = 0; part < P; part += 1) {
      let src = (part * g.K + (codes[x * P + part] as number)) * p;
      for (let j = 0; j < p; j += 1) {
        out[o] = codebooks[src] as number;
        o += 1;
        src += 1;
      }
    }
  }
}

/** Method-specific pieces of the serving table. */
export interface CodebookTableInfo {
  method: string;
  spec: string;
  params: Record<string, unknown>;
  paperWords: number;
  notes: string[];
}

/** The serving form of dpq and mgqe: codes + codebooks (and full fields), rows by gather only. */
export class CodebookTable implements CompressedTable {
  readonly method: string;
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;

  constructor(
    readonly shape: TableShape,
    readonly layout: CodebookLayout,
    readonly data: readonly GroupData[],
    private readonly info: CodebookTableInfo,
  ) {
    this.method = info.method;
    this.spec = info.spec;
    this.rows = totalRows(shape);
    this.dim = shape.dim;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherRows(this.layout, this.data, ids, out);
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const d of this.data)
      bytes +=
        d.table !== undefined ? d.table.byteLength : d.codes.byteLength + d.codebooks.byteLength;
    return bytes;
  }

  describe(): TableDescription {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      this.info.paperWords,
      this.info.notes,
    );
  }

  encode(): Uint8Array {
    const sections = new Map<string, Float32Array | Codes>();
    this.layout.groups.forEach((g, i) => {
      const d = this.data[i] as GroupData;
      if (d.table !== undefined) sections.set(`${g.prefix}table`, d.table);
      else {
        sections.set(`${g.prefix}codebooks`, d.codebooks);
        sections.set(`${g.prefix}codes`, d.codes);
      }
    });
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.info.params },
      shape: this.shape,
      sections,
    });
  }
}

/**
 * The groups' arrays of a verified artifact, sized by `layout`; every code is checked < K, so a
 * loaded table never reads outside its codebooks.
 */
export function loadGroupData(content: ArtifactContent, l: CodebookLayout): GroupData[] {
  return l.groups.map((g): GroupData => {
    if (!g.quantized) return { table: section(content, `${g.prefix}table`, 'f32', g.rows * l.dim) };
    const codebooks = section(content, `${g.prefix}codebooks`, 'f32', g.K * l.dim);
    const name = `${g.prefix}codes`;
    const codes =
      codeBytes(g.K) === 1
        ? section(content, name, 'u8', g.rows * l.parts)
        : section(content, name, 'u16', g.rows * l.parts);
    for (let i = 0; i < codes.length; i += 1)
      if ((codes[i] as number) >= g.K)
        throw new ArtifactError(
          'malformed',
          `${content.method}: ${name}[${i}] = ${codes[i]} >= ${g.K} centroids`,
        );
    return { codes, codebooks };
  });
}
