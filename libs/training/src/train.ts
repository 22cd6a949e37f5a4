// The training engine (issue #4, docs/methods/reference.md#training-loop,
// docs/adr/0016-staged-training.md): prepare or open the dataset, build the compressed embedding
// table over the vocabulary and the dense model, and run the method's stages (one for a method that
// declares none): each trains in parts with a validation pass after each, keeps the state its
// `keep` rule selects (on VALIDATION), hands it on to the next stage, which may change the table's
// form; the last stage's kept state is scored once on TEST and exported as a model version.
//
// Serving = training by construction: the kept state is reloaded into the trainable and the dense
// model, the exported table is its `toTable()` (compressed for codecs) and the final test pass runs
// on a model rebuilt from the exported dense bytes and on that table, i.e. on exactly what is
// exported.
import { exportRun } from './export-run';
import type { KeptState } from './kept-state';
import { elapsedSeconds, startLoop } from './loop-state';
import type { TrainOptions, TrainResult } from './options';
import { setupRun } from './run-setup';
import { runStageParts } from './stage-runner';
import { endStage, enterStage, isStaged } from './stages';
import { TrainError } from './train-errors';

export {
  BUDGET_ACCOUNTINGS,
  defaultVersion,
  OPTIMIZER_KINDS,
  partBatches,
  type BudgetAccounting,
  type PartProgress,
  type StageReport,
  type TrainMetrics,
  type TrainOptimizer,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
} from './options';

export async function train(given: TrainOptions): Promise<TrainResult> {
  const setup = await setupRun(given);
  const { emb, emit } = setup;
  const loop = startLoop(setup);
  const stages = emb.stages;
  let kept: KeptState | undefined;
  try {
    for (let index = loop.stageIndex; index < stages.length; index += 1) {
      // A resumed run continues its checkpoint's stage as it was; every later stage is entered.
      const resumedHere = index === loop.stageIndex && (loop.stagePartsDone > 0 || loop.stageOver);
      if (!resumedHere && index > 0) await enterStage(setup, loop, index);
      const stage = stages[index];
      if (stage !== undefined && isStaged(setup))
        emit({ kind: 'stage', index, name: stage.name, stages: stages.length });
      if (!loop.stageOver) await runStageParts(setup, loop);
      kept = endStage(setup, loop);
    }
  } catch (err) {
    loop.model.dispose();
    await loop.cursor.close();
    throw err;
  }
  await loop.cursor.close();
  const trainSeconds = elapsedSeconds(loop);
  try {
    if (loop.partsRun === 0) throw new TrainError('no-data', 'no part was trained');
    return await exportRun(setup, loop, kept, trainSeconds);
  } finally {
    loop.model.dispose();
  }
}
