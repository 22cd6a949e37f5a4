// The mutable state of a run's loop over stages and parts, how it starts (fresh, or from the
// newest checkpoint of the run being resumed) and how it is checkpointed after every part.
// A resume rebuilds the trainable with `createTrainable` (stage-0 form) and `restoreState` puts the
// checkpointed stage's form back (docs/adr/0016-staged-training.md#checkpoints-and-resume).
import { existsSync } from 'node:fs';
import type { TrainableEmbedding } from '@embpress/compression';
import { createModel, loadModel, saveModel, type CtrModel } from '@embpress/models';
import { fingerprintDiff, type CheckpointPayload, type CheckpointState } from './checkpoint';
import type { KeptState, PartScore, TableState } from './kept-state';
import { captureState, decodeState, encodeState, restoreState } from './object-state';
import type { StageReport } from './options';
import type { RunSetup } from './run-setup';
import { TrainError } from './train-errors';
import { ValidationCursor } from './validation-cursor';

export type StageEndReason = StageReport['end'];

export interface LoopState {
  trainable: TrainableEmbedding;
  model: CtrModel;
  /** The stage in progress and its parts done (the next part to train, 0-based). */
  stageIndex: number;
  stagePartsDone: number;
  /** The stage's parts are over (set after its last part; a resume goes on to hand it on). */
  stageOver: boolean;
  stageEnd: StageEndReason | null;
  /** The stage's best score so far (early stopping; 'meets-budget' counts meeting parts only). */
  best: PartScore | undefined;
  /** What the stage keeps so far; undefined: its state at the end ('last', or none met). */
  kept: KeptState | undefined;
  sinceBest: number;
  stepSeconds: number;
  /** Loop seconds of the processes before this one (a resumed run). */
  earlierLoopSeconds: number;
  samplesTrained: number;
  /** Parts done in the whole run. */
  partsRun: number;
  history: Record<string, unknown>[];
  /** Finished stages. */
  reports: StageReport[];
  cursor: ValidationCursor;
  /** Parts run at start (0: not resumed). */
  resumedFromPart: number;
  loopStart: number;
  /** Wall seconds of this process's parts, and their number (ETA). */
  partsWallSeconds: number;
  partsHere: number;
}

export const tableStateOf = (
  setup: RunSetup,
  loop: { trainable: TrainableEmbedding },
): TableState => ({
  table: loop.trainable,
  optimizer: setup.emb.optimizer,
});

export function elapsedSeconds(loop: LoopState): number {
  return loop.earlierLoopSeconds + (performance.now() - loop.loopStart) / 1000;
}

const numOrNull = (v: number) => (Number.isFinite(v) ? v : null);
const numOrNaN = (v: number | null) => (v === null ? Number.NaN : v);
const scoreOut = (s: PartScore) => ({
  part: s.part,
  auc: numOrNull(s.auc),
  logloss: numOrNull(s.logloss),
  rows: s.rows,
});
const scoreIn = (s: {
  part: number;
  auc: number | null;
  logloss: number | null;
  rows: number;
}) => ({
  part: s.part,
  auc: numOrNaN(s.auc),
  logloss: numOrNaN(s.logloss),
  rows: s.rows,
});

function freshLoop(setup: RunSetup, trainable: TrainableEmbedding, model: CtrModel): LoopState {
  return {
    trainable,
    model,
    stageIndex: 0,
    stagePartsDone: 0,
    stageOver: false,
    stageEnd: null,
    best: undefined,
    kept: undefined,
    sinceBest: 0,
    stepSeconds: 0,
    earlierLoopSeconds: 0,
    samplesTrained: 0,
    partsRun: 0,
    history: [],
    reports: [],
    cursor: new ValidationCursor(setup.ds, setup.options.batchSize),
    resumedFromPart: 0,
    loopStart: performance.now(),
    partsWallSeconds: 0,
    partsHere: 0,
  };
}

/** A new run's loop, or the resumed run's from its newest usable checkpoint. */
export function startLoop(setup: RunSetup): LoopState {
  const { emb, options, run, log } = setup;
  if (!setup.resuming)
    return freshLoop(setup, emb.trainable, createModel(setup.architecture, setup.modelOptions));
  const ckpt = run.latest(log);
  const diff = fingerprintDiff(ckpt.meta.fingerprint, setup.fingerprint);
  if (diff.length > 0)
    throw new TrainError(
      'bad-argument',
      `cannot resume from ${ckpt.dir}: it was written with other options (${diff.join('; ')})`,
    );
  const file = (name: string) => {
    const bytes = ckpt.files.get(name);
    if (bytes === undefined)
      throw new TrainError('bad-argument', `checkpoint ${ckpt.dir} has no ${name}`);
    return bytes;
  };
  const m = ckpt.meta;
  if (!(m.stageIndex >= 0 && m.stageIndex < emb.stages.length))
    throw new TrainError(
      'bad-argument',
      `checkpoint ${ckpt.dir} is in stage ${m.stageIndex}, ${emb.spec} has ${emb.stages.length}`,
    );
  const trainable = emb.trainable;
  restoreState(tableStateOf(setup, { trainable }), decodeState(file('table.state'), emb.spec));
  const loop = freshLoop(setup, trainable, loadModel(file('dense.ckpt'), setup.modelOptions));
  loop.stageIndex = m.stageIndex;
  loop.stagePartsDone = m.stagePartsDone;
  loop.stageOver = m.stageOver;
  loop.stageEnd = m.stageEnd;
  loop.best = m.best === null ? undefined : scoreIn(m.best);
  loop.kept =
    m.kept === null
      ? undefined
      : {
          score: scoreIn(m.kept),
          table: decodeState(file('kept-table.state'), emb.spec),
          denseCkpt: file('kept-dense.ckpt'),
          denseWeights: file('kept-dense.weights'),
          savedIn: ckpt.dir,
        };
  loop.sinceBest = m.sinceBest;
  loop.stepSeconds = m.stepSeconds;
  loop.earlierLoopSeconds = m.loopSeconds;
  loop.samplesTrained = m.samplesTrained;
  loop.partsRun = m.partsDone;
  loop.history = m.history;
  loop.reports = m.stages.map((r) => ({ ...r, keptValAuc: numOrNaN(r.keptValAuc) }));
  loop.cursor.position = m.validationCursor;
  loop.resumedFromPart = m.partsDone;
  const stage = emb.stages[m.stageIndex];
  setup.emit({
    kind: 'resume',
    part: m.partsDone,
    checkpoint: ckpt.dir,
    stage: stage?.name ?? '',
    stagePart: m.stagePartsDone,
  });
  log(
    `resumed ${options.modelName}/${setup.version} after part ${m.partsDone}${stage !== undefined && stage.name !== '' ? ` (stage ${stage.name}, part ${m.stagePartsDone}${m.stageOver ? ', stage over' : ''})` : ''} from ${ckpt.dir}`,
  );
  return loop;
}

/** Writes the checkpoint after a part (unless checkpoints are off); returns its directory. */
export function writeCheckpoint(setup: RunSetup, loop: LoopState): string | undefined {
  const { emb, options, shape } = setup;
  if (options.checkpoints === false) return undefined;
  const payload = new Map<string, CheckpointPayload>([
    ['table.state', encodeState(captureState(tableStateOf(setup, loop)), emb.spec, shape)],
    ['dense.ckpt', saveModel(loop.model, { includeOptimizer: true })],
  ]);
  const kept = loop.kept;
  if (kept !== undefined) {
    // The kept state changes only when a part improves: the previous checkpoint's files are
    // linked, not rewritten, while it stays the same.
    const reuse = kept.savedIn !== undefined && existsSync(kept.savedIn) ? kept.savedIn : undefined;
    payload.set(
      'kept-table.state',
      reuse === undefined ? encodeState(kept.table, emb.spec, shape) : { reuse },
    );
    payload.set('kept-dense.ckpt', reuse === undefined ? kept.denseCkpt : { reuse });
    payload.set('kept-dense.weights', reuse === undefined ? kept.denseWeights : { reuse });
  }
  const stage = emb.stages[loop.stageIndex];
  const state: CheckpointState = {
    model: options.modelName,
    version: setup.version,
    fingerprint: setup.fingerprint,
    partsDone: loop.partsRun,
    stageIndex: loop.stageIndex,
    stage: stage?.name ?? '',
    stagePartsDone: loop.stagePartsDone,
    stageOver: loop.stageOver,
    stageEnd: loop.stageEnd,
    stages: loop.reports.map((r) => ({ ...r, keptValAuc: numOrNull(r.keptValAuc) })),
    validationCursor: loop.cursor.position,
    sinceBest: loop.sinceBest,
    samplesTrained: loop.samplesTrained,
    stepSeconds: loop.stepSeconds,
    loopSeconds: elapsedSeconds(loop),
    best: loop.best === undefined ? null : scoreOut(loop.best),
    kept: kept === undefined ? null : scoreOut(kept.score),
    history: loop.history,
    createdAt: new Date().toISOString(),
  };
  const dir = setup.run.write(state, payload);
  if (kept !== undefined) kept.savedIn = dir;
  return dir;
}
