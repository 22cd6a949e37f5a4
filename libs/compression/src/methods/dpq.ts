// `dpq`: Differentiable Product Quantization (docs/methods/dpq.md; Chen et al., ICML 2020), vq
// mode, one table over all global ids. Trained end to end: a query table Q, P codebooks of K
// centroids and a code table B written by every training step (dpq-trainable.ts); served as codes
// + codebooks, rows by gather (dpq-core.ts). Not budget-driven: P and K set the ratio.
import { z } from 'zod';
import { artifactParams, type ArtifactContent } from '../core/artifact';
import { ArtifactError } from '../core/errors';
import type { CompressedTable, TrainableMethod } from '../core/method';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import {
  CodebookTable,
  codebookLayout,
  codeBytes,
  layoutBytes,
  loadGroupData,
  type CodebookLayout,
  type CodebookTableInfo,
} from './dpq-core';
import { CodebookTrainable } from './dpq-trainable';

const params = z
  .object({
    /** P: parts per row (must divide the dimension); each part has its own codebook. */
    parts: z.number().int().min(1).max(65_536).default(8),
    /** K: centroids per part (the reference's num_choices); codes are u8 up to 256, else u16. */
    choices: z.number().int().min(2).max(65_536).default(32),
  })
  .strict();
export type DpqParams = z.infer<typeof params>;

const ID = 'dpq';

export function dpqLayout(shape: TableShape, p: DpqParams): CodebookLayout {
  return codebookLayout(shape, p.parts, [
    { prefix: '', start: 0, rows: totalRows(shape), quantized: true, K: p.choices },
  ]);
}

/** The reference's per-field count (docs/methods/dpq.md): every code one word, K·D codebook words. */
function paperWords(shape: TableShape, p: DpqParams): number {
  dpqLayout(shape, p);
  return totalRows(shape) * p.parts + p.choices * shape.dim;
}

function infoOf(shape: TableShape, p: DpqParams): CodebookTableInfo {
  const l = dpqLayout(shape, p);
  const n = totalRows(shape);
  const bytes = layoutBytes(l);
  return {
    method: ID,
    spec: formatOne(ID, p),
    params: { ...p },
    paperWords: paperWords(shape, p),
    notes: [
      `codes: ${p.parts} × ${codeBytes(p.choices)} byte(s) per row; codebooks: ${p.parts} × ${p.choices} × ${l.partDim} float32`,
      `compression ratio reached ${(fullBytes(shape) / bytes).toPrecision(4)}× (${(bytes / fullBytes(shape)).toPrecision(4)} of the fp32 bytes; not budget-driven: set by parts P and choices K)`,
      `training form also holds the query table Q (${n * shape.dim * 4} bytes, training only: neither served nor counted)`,
      `paper words count each code as a word (n·P) plus K·D codebook words; the codes really need ⌈log2 K⌉ = ${Math.ceil(Math.log2(p.choices))} bits`,
      'ids never seen in training keep code 0 in every part',
    ],
  };
}

function loadTable(content: ArtifactContent): CompressedTable {
  const p = artifactParams(content, params);
  let l: CodebookLayout;
  try {
    l = dpqLayout(content.shape, p);
  } catch (err) {
    throw new ArtifactError('malformed', (err as Error).message);
  }
  if (content.spec !== formatOne(ID, p))
    throw new ArtifactError('malformed', `dpq: spec "${content.spec}" does not match its params`);
  return new CodebookTable(content.shape, l, loadGroupData(content, l), infoOf(content.shape, p));
}

export const dpq: TrainableMethod<DpqParams> = {
  kind: 'trainable',
  id: ID,
  family: 'row-codec',
  taxonomy: { scope: 'inter-feature', subClass: 'dynamic-encoding' },
  title:
    'Differentiable product quantization: P learned codebooks of K centroids, codes learned end to end (straight-through)',
  paper:
    'Chen, Li, Sun: "Differentiable Product Quantization for End-to-End Embedding Compression", ICML 2020',
  params,
  estimateBytes: (shape, p) => layoutBytes(dpqLayout(shape, p)),
  paperWords,
  createTrainable: (shape, p, options) =>
    new CodebookTrainable(
      shape,
      {
        spec: formatOne(ID, p),
        layout: dpqLayout(shape, p),
        search: () => ({ mask: null, kLow: p.choices }),
        info: infoOf(shape, p),
      },
      options,
    ),
  loadTable,
};
