// The hand-off between stages (docs/adr/0016-staged-training.md): at a stage's end its kept state
// is reloaded (the trainable rebuilt with createTrainable and the kept state restored into it, the
// very path a resume takes; the dense model from the kept weights and optimizer state); at the next
// stage's start the dense model is re-initialised from the run's seed or its optimizer state
// dropped, as the stage declares, and the table changes its form in `enterStage`.
import {
  SINGLE_STAGE,
  type StageContext,
  type StagedTrainable,
  type StageSpec,
} from '@embpress/compression';
import { createModel, loadModel, saveModel } from '@embpress/models';
import { evaluateSplit } from './evaluate';
import type { KeptState } from './kept-state';
import { tableStateOf, type LoopState } from './loop-state';
import { restoreState } from './object-state';
import type { RunSetup } from './run-setup';

/** Whether the run's method declares stages (progress names them). */
export function isStaged(setup: RunSetup): boolean {
  const [first] = setup.emb.stages;
  return setup.emb.stages.length > 1 || (first !== undefined && first !== SINGLE_STAGE);
}

/** Parts a stage trains at most: its `end.parts`, capped by the run's part budget; 0 for 'none'. */
export function stagePartBudget(setup: RunSetup, stage: StageSpec): number {
  if (stage.end.kind === 'none') return 0;
  const own = stage.end.kind === 'parts' ? stage.end.parts : undefined;
  return own === undefined ? setup.totalParts : Math.max(1, Math.min(own, setup.totalParts));
}

/** Puts a kept state into a new trainable (same spec, shape, seed) and a new dense model. */
function reload(setup: RunSetup, loop: LoopState, kept: KeptState): void {
  const trainable = setup.emb.rebuild();
  restoreState(tableStateOf(setup, { trainable }), kept.table);
  loop.trainable = trainable;
  loop.model.dispose();
  loop.model = loadModel(kept.denseCkpt, setup.modelOptions);
}

/**
 * Ends the stage in progress: records its report and reloads what it keeps. Returns the kept state
 * (undefined: the stage's last state stays, as `keep: 'last'` or a 'meets-budget' stage in which no
 * part met the budget ask).
 */
export function endStage(setup: RunSetup, loop: LoopState): KeptState | undefined {
  const stage = setup.emb.stages[loop.stageIndex] as StageSpec;
  const kept = loop.kept;
  loop.reports.push({
    name: stage.name,
    parts: loop.stagePartsDone,
    keptPart: kept?.score.part ?? 0,
    keptValAuc: kept?.score.auc ?? Number.NaN,
    end: loop.stageEnd ?? (stage.end.kind === 'none' ? 'none' : 'budget'),
  });
  if (kept !== undefined) reload(setup, loop, kept);
  if (isStaged(setup))
    setup.log(
      `stage ${stage.name} ends after ${loop.stagePartsDone} parts (${loop.stageEnd ?? 'none'}): ${kept === undefined ? 'keeping its last state' : `keeping part ${kept.score.part} (val AUC ${kept.score.auc.toFixed(4)})`}`,
    );
  loop.best = undefined;
  loop.kept = undefined;
  loop.sinceBest = 0;
  return kept;
}

/** Starts stage `index` (> 0): dense start and optimizer as declared, then the table's form. */
export async function enterStage(setup: RunSetup, loop: LoopState, index: number): Promise<void> {
  const stage = setup.emb.stages[index] as StageSpec;
  loop.stageIndex = index;
  loop.stagePartsDone = 0;
  loop.stageOver = stage.end.kind === 'none';
  loop.stageEnd = stage.end.kind === 'none' ? 'none' : null;
  if (stage.denseStart === 'reinit') {
    // The same seed and architecture: the very initial weights of stage 1 (PEP's lottery ticket),
    // with a new optimizer.
    loop.model.dispose();
    loop.model = createModel(setup.architecture, setup.modelOptions);
  } else if (stage.optimizer === 'reset') {
    // "Parameters only": the weights go on, the optimizer's slots and step counter start over.
    const weights = saveModel(loop.model);
    loop.model.dispose();
    loop.model = loadModel(weights, setup.modelOptions);
  }
  const { ds, options, emb, log } = setup;
  const context: StageContext = {
    index,
    stage,
    seed: options.seed,
    plannedSteps: setup.stepsOfParts(stagePartBudget(setup, stage)),
    optimizer: emb.optimizer,
    frequencies: setup.frequencies ?? new Uint32Array(0),
    evaluate: async (lookup) => {
      const e = await evaluateSplit(ds, 'validation', loop.model, lookup, options.batchSize);
      return { auc: e.auc, logloss: e.logloss };
    },
    log: (line) => log(`${stage.name}: ${line}`),
  };
  await (loop.trainable as StagedTrainable).enterStage(context);
}
