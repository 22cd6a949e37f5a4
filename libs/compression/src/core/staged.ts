// Multi-stage methods (docs/adr/0016-staged-training.md): warm-up → search → retrain → prune →
// fine-tune. A staged method declares its stages as DATA (`stages(params)`); the training engine
// (libs/training) runs them: it trains each stage's parts, keeps the state the stage asks for,
// reloads it into the trainable table, and then lets the table change its form for the next
// stage (`enterStage`). The dense model belongs to the engine: its freezing, re-initialisation
// and optimizer reset are stage data, not method code.
//
// Why the table changes form in place (one object for the whole run) rather than being replaced
// by a new object: checkpoints capture a trainable by walking its own fields and restore them into
// a fresh `createTrainable(...)` object (libs/training's object state). A table that keeps every
// stage's arrays in its own fields (replacing them, never holding views across fields) is
// therefore resumable in any stage with no per-method checkpoint code.
import type { TrainableEmbedding, TrainableMethod } from './method';
import type { SparseOptimizer } from './optim';

/** What ends a stage. The run's part budget (epochs × parts per epoch) caps every stage. */
export type StageEnd =
  /** `parts` parts (default: the run's part budget); early stopping on validation applies. */
  | { kind: 'parts'; parts?: number }
  /**
   * The table's `stageDone()` answers true after a part's validation (PEP: the sparsity target is
   * reached). No early stopping.
   */
  | { kind: 'target' }
  /**
   * No training steps: the stage's own `enterStage` does its work (OptEmbed's evolutionary
   * search, calling `evaluate`), then the engine goes on to the next stage.
   */
  | { kind: 'none' };

export interface StageSpec {
  /** E.g. 'warmup', 'search', 'retrain', 'prune', 'finetune' (progress events, checkpoints). */
  readonly name: string;
  readonly end: StageEnd;
  /** 'train': the dense model trains with the table; 'frozen': only the table trains. */
  readonly dense: 'train' | 'frozen';
  /**
   * The dense model at the stage's start: 'keep' it, or 'reinit' it from the run's seed, the same
   * initial weights as the run's first stage (PEP's lottery ticket).
   */
  readonly denseStart: 'keep' | 'reinit';
  /** The dense optimizer's state at the stage's start: 'carry' it over, or 'reset' it. */
  readonly optimizer: 'carry' | 'reset';
  /**
   * What the stage hands on: the state of its best validation AUC ('best-val'), the best among
   * the parts after which the table `meetsBudget()` ('meets-budget'; the last state if none
   * does), or the last state ('last').
   */
  readonly keep: 'best-val' | 'meets-budget' | 'last';
  /**
   * After every training step the engine passes the row gradients of one VALIDATION batch (from a
   * cursor shared by the whole run, cycling) to `validationStep` (AutoDim, AutoSrh: architecture
   * weights are trained on validation data). The dense model does not change in that pass.
   */
  readonly validationStep?: boolean;
}

export interface Evaluation {
  auc: number;
  logloss: number;
}

/** What a table gets when it enters a stage (every stage after the first). */
export interface StageContext {
  /** 0-based index of the stage being entered, in `stages(params)`. */
  readonly index: number;
  readonly stage: StageSpec;
  /** The run's seed (tables derive their stage's randomness from it, never from Math.random). */
  readonly seed: number;
  /**
   * Training steps this stage takes at most (its part budget × batches per part; 0 for a 'none'
   * stage): schedules inside a stage (DeepLight's sparsity ramp) scale to it.
   */
  readonly plannedSteps: number;
  /** The rows' optimizer. A stage with `optimizer: 'reset'` means new slots for the table too. */
  readonly optimizer: SparseOptimizer;
  /** Training-split occurrence counts per global id (docs/methods/reference.md#frequencies). */
  readonly frequencies: Uint32Array;
  /**
   * Validation AUC and logloss of the current dense model with `lookup` as the table: one full
   * pass over the validation split (OptEmbed's evolutionary search).
   */
  evaluate(lookup: (ids: Uint32Array, out: Float32Array) => void): Promise<Evaluation>;
  log(line: string): void;
}

/** The trainable form of a staged method. */
export interface StagedTrainable extends TrainableEmbedding {
  /**
   * Changes the table to stage `context.index`'s form, after the previous stage's kept state was
   * reloaded into it. Replace fields; keep no views between fields (see the header).
   */
  enterStage(context: StageContext): void | Promise<void>;
  /** `validationStep` stages: d(validation loss)/d(rows of ids); trains architecture weights only. */
  validationStep?(ids: Uint32Array, rowGrads: Float32Array): void;
  /** `target` stages: whether the stage's goal is reached (asked after each part). */
  stageDone?(): boolean;
  /** `meets-budget` stages: whether the current state may be kept. */
  meetsBudget?(): boolean;
}

export interface StagedMethod<P extends object = object> extends TrainableMethod<P> {
  /** The stages in order (at least one). */
  stages(params: P): readonly StageSpec[];
  createTrainable(
    ...args: Parameters<TrainableMethod<P>['createTrainable']>
  ): StagedTrainable;
}

export function isStagedMethod(method: { kind: string }): method is StagedMethod {
  return (
    method.kind === 'trainable' && typeof (method as Partial<StagedMethod>).stages === 'function'
  );
}

/** The one stage of a method that declares none: train with the dense model, keep the best. */
export const SINGLE_STAGE: StageSpec = {
  name: '',
  end: { kind: 'parts' },
  dense: 'train',
  denseStart: 'keep',
  optimizer: 'carry',
  keep: 'best-val',
};
