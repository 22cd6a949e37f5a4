// `mgqe`: Multi-Granular Quantized Embedding (docs/methods/mgqe.md; Kang et al., WWW 2020). DPQ in
// vq mode per field, where the field's high-frequency ids (top `topPercent` by training counts,
// core/frequency.ts) search all `high` centroids of each part and the others only the first `low`.
// A field whose codes + codebooks would not be smaller than its fp32 rows keeps a full table.
import { z } from 'zod';
import { artifactParams, type ArtifactContent } from '../core/artifact';
import { ArtifactError, SpecError } from '../core/errors';
import { highFrequencyMask } from '../core/frequency';
import type { CompressedTable, TrainableMethod } from '../core/method';
import { fieldOffsets, fullBytes, totalRows, validateShape, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import {
  CodebookTable,
  codebookLayout,
  codeBytes,
  layoutBytes,
  loadGroupData,
  type CodebookGroup,
  type CodebookLayout,
  type CodebookTableInfo,
} from './dpq-core';
import { CodebookTrainable } from './dpq-trainable';

const params = z
  .object({
    /** P: parts per row (must divide the dimension); the knob that sets the ratio. */
    parts: z.number().int().min(1).max(65_536).default(4),
    /** Centroids per part of a field's codebook, searched by its high-frequency ids. */
    high: z.number().int().min(2).max(65_536).default(256),
    /** Centroids (the first `low` of `high`) a low-frequency id may use. */
    low: z.number().int().min(1).max(65_536).default(64),
    /** Share of each field's ids that count as high-frequency (training counts). */
    topPercent: z.number().gt(0).max(1).default(0.1),
  })
  .strict();
export type MgqeParams = z.infer<typeof params>;

const ID = 'mgqe';

/**
 * One group per field: quantized when rows·P code bytes + high·D·4 codebook bytes is less than
 * the field's n_f·D·4 fp32 bytes (docs/methods/mgqe.md#layout-and-memory), else a full table.
 */
export function mgqeLayout(shape: TableShape, p: MgqeParams): CodebookLayout {
  validateShape(shape);
  if (p.low > p.high) throw new SpecError(`mgqe: low ${p.low} exceeds high ${p.high}`);
  const offsets = fieldOffsets(shape);
  const groups = shape.fields.map((n, f): CodebookGroup => {
    const quantized = n * p.parts * codeBytes(p.high) + p.high * shape.dim * 4 < n * shape.dim * 4;
    return {
      prefix: `f${f}.`,
      start: offsets[f] as number,
      rows: n,
      quantized,
      K: quantized ? p.high : 0,
    };
  });
  return codebookLayout(shape, p.parts, groups);
}

/**
 * The reference's words per quantized field: n_f (frequency flags) + K_high·D + n_high·P·b_high/32
 * + n_low·P·b_low/32 (b = ⌈log2 K⌉ bits), with n_high taken as the split target topPercent·n_f (the
 * real split adds ties; it needs the frequencies, which the memory formula does not get); a full
 * field counts n_f·D.
 */
function paperWords(shape: TableShape, p: MgqeParams): number {
  const l = mgqeLayout(shape, p);
  const bHigh = Math.ceil(Math.log2(p.high));
  const bLow = Math.ceil(Math.log2(Math.max(2, p.low)));
  let words = 0;
  for (const g of l.groups) {
    if (!g.quantized) {
      words += g.rows * shape.dim;
      continue;
    }
    const nHigh = p.topPercent * g.rows;
    words +=
      g.rows +
      p.high * shape.dim +
      (nHigh * p.parts * bHigh) / 32 +
      ((g.rows - nHigh) * p.parts * bLow) / 32;
  }
  return words;
}

function infoOf(shape: TableShape, p: MgqeParams): CodebookTableInfo {
  const l = mgqeLayout(shape, p);
  const quantized = l.groups.filter((g) => g.quantized);
  const qRows = quantized.reduce((s, g) => s + g.rows, 0);
  const full = l.groups.flatMap((g, f) => (g.quantized ? [] : [f]));
  return {
    method: ID,
    spec: formatOne(ID, p),
    params: { ...p },
    paperWords: paperWords(shape, p),
    notes: [
      `${quantized.length} of ${l.groups.length} fields quantized: ${p.parts} × ${codeBytes(p.high)} byte(s) per row, ${p.parts} × ${p.high} × ${l.partDim} float32 codebooks per field` +
        (full.length > 0
          ? `; full fp32 tables for fields ${full.join(',')} (codebooks would not pay off)`
          : ''),
      `compression ratio reached ${(fullBytes(shape) / layoutBytes(l)).toPrecision(4)}× (${(layoutBytes(l) / fullBytes(shape)).toPrecision(4)} of the fp32 bytes; not budget-driven: set by parts P and high K)`,
      `training form also holds the query tables Q (${qRows * shape.dim * 4} bytes) and high-frequency flags (${qRows} bytes): training only, neither served nor counted`,
      `low-frequency codes (< ${p.low}) are stored in the same ${codeBytes(p.high)}-byte codes; paper words count ⌈log2 K⌉ bits per code, n_f flag words per field, and n_high = topPercent·n_f`,
      'ids never seen in training keep code 0 in every part',
    ],
  };
}

function loadTable(content: ArtifactContent): CompressedTable {
  const p = artifactParams(content, params);
  let l: CodebookLayout;
  try {
    l = mgqeLayout(content.shape, p);
  } catch (err) {
    throw new ArtifactError('malformed', (err as Error).message);
  }
  if (content.spec !== formatOne(ID, p))
    throw new ArtifactError('malformed', `mgqe: spec "${content.spec}" does not match its params`);
  return new CodebookTable(content.shape, l, loadGroupData(content, l), infoOf(content.shape, p));
}

export const mgqe: TrainableMethod<MgqeParams> = {
  kind: 'trainable',
  id: ID,
  family: 'row-codec',
  taxonomy: { scope: 'inter-feature', subClass: 'dynamic-encoding' },
  title:
    'Multi-granular quantized embedding: per-field DPQ, frequent ids search all centroids, rare ids the first few',
  paper:
    'Kang et al.: "Learning Multi-granular Quantized Embeddings for Large-Vocab Categorical Features in Recommender Systems", WWW 2020 (companion)',
  usesFrequencies: true,
  params,
  estimateBytes: (shape, p) => layoutBytes(mgqeLayout(shape, p)),
  paperWords,
  createTrainable: (shape, p, options) => {
    const layout = mgqeLayout(shape, p);
    const freq = options.frequencies;
    if (freq === undefined)
      throw new SpecError('mgqe needs the training split frequencies (TrainOptions.frequencies)');
    if (freq.length !== totalRows(shape))
      throw new SpecError(`mgqe: ${freq.length} frequencies for ${totalRows(shape)} ids`);
    return new CodebookTrainable(
      shape,
      {
        spec: formatOne(ID, p),
        layout,
        search: (g) => ({
          mask: highFrequencyMask(freq.subarray(g.start, g.start + g.rows), p.topPercent),
          kLow: p.low,
        }),
        info: infoOf(shape, p),
      },
      options,
    );
  },
  loadTable,
};
