// Stage hooks: how a multi-stage method (prune then fine-tune, search then retrain, ...) changes
// the training loop between parts without owning it. The engine calls `beforePart` before each
// part and `onPartEnd` after each part's validation; a hook answers with a StageChange.
//
// Hooks must decide from the context alone (part, epoch, stage, the table and model they get):
// a resumed run restores the part position and the stage name, not a hook's private fields.
import type { TrainableEmbedding } from '@embpress/compression';
import type { CtrModel } from '@embpress/models';

export interface StageContext {
  /** 1-based part about to run (beforePart) or just run (onPartEnd). */
  part: number;
  /** Parts the run trains at most. */
  parts: number;
  /** 1-based epoch of that part. */
  epoch: number;
  /** The current stage ('' until a hook names one). */
  stage: string;
  trainable: TrainableEmbedding;
  model: CtrModel;
  /** Best part so far (1-based, 0 when none) and its validation AUC. */
  bestPart: number;
  bestValAuc: number;
}

export interface PartEndContext extends StageContext {
  valAuc: number;
  valLogloss: number;
  improved: boolean;
}

export interface StageChange {
  /** The stage from now on (recorded in progress events and checkpoints). */
  stage?: string;
  /**
   * Forget the best part so far: selection and the early-stop count start over (a new stage
   * trains a different table, so an earlier stage's best is not comparable).
   */
  resetBest?: boolean;
  /** End training: before this part (beforePart) or after it (onPartEnd). */
  stop?: boolean;
}

export interface StageHooks {
  beforePart?(context: StageContext): StageChange | undefined;
  onPartEnd?(context: PartEndContext): StageChange | undefined;
}
