// What a stage keeps (docs/adr/0016-staged-training.md): the trainable table's FULL state (its
// parameters, the form it has in this stage, its optimizer slots and the rows optimizer's step,
// captured by object-state.ts) and the dense model's weights with their optimizer state, at the
// part the stage's `keep` rule selected. At the stage's end it is reloaded into the live trainable
// and a dense model: the next stage starts from it, and the last stage's is what is exported.
import type { TypedArray } from '@embpress/compression';
import { loadModel, saveModel, type CreateModelOptions, type CtrModel } from '@embpress/models';
import { captureState, restoreState, type CapturedState } from './object-state';

export interface PartScore {
  /** 1-based part within the stage. */
  part: number;
  auc: number;
  logloss: number;
  rows: number;
}

export interface KeptState {
  score: PartScore;
  /** A copy of the captured state (training goes on changing the live arrays). */
  table: CapturedState;
  /** Dense weights with their optimizer state (saveModel includeOptimizer). */
  denseCkpt: Uint8Array;
  /** Dense weights only: what a model version exports. */
  denseWeights: Uint8Array;
  /** The checkpoint that already holds this state's files (reused, not rewritten). */
  savedIn?: string;
}

/** What the engine captures of a trainable: the table and the rows optimizer it updates through. */
export interface TableState {
  table: object;
  optimizer: object;
}

/** A copy of the live state: captureState hands out the live arrays. */
export function copyState(state: CapturedState): CapturedState {
  const sections = new Map<string, TypedArray>();
  for (const [name, values] of state.sections) sections.set(name, values.slice());
  return { tree: structuredClone(state.tree), sections };
}

export function keepNow(score: PartScore, tableState: TableState, model: CtrModel): KeptState {
  return {
    score,
    table: copyState(captureState(tableState)),
    denseCkpt: saveModel(model, { includeOptimizer: true }),
    denseWeights: saveModel(model),
  };
}

/**
 * Puts a kept state back: into the live trainable (in place) and into a new dense model with its
 * optimizer state (the caller disposes the model it replaces).
 */
export function reloadKept(
  kept: KeptState,
  tableState: TableState,
  modelOptions: CreateModelOptions,
): CtrModel {
  restoreState(tableState, kept.table);
  return loadModel(kept.denseCkpt, modelOptions);
}
