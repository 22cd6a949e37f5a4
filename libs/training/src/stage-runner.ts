// The parts of one stage (docs/methods/reference.md#training-loop, docs/adr/0016): train a part's
// batches (the dense model trains or stays frozen as the stage says; `validationStep` stages pass
// one validation batch's row gradients to the table after each step), score the validation split
// with the table's serving rows, keep the state the stage's `keep` rule asks for, checkpoint, and
// end the stage on its budget, early stopping ('parts') or the table's target ('target').
import type { StagedTrainable, StageSpec } from '@embpress/compression';
import { rocAuc } from '@embpress/models';
import { evaluateSplit } from './evaluate';
import { keepNow, type PartScore } from './kept-state';
import { elapsedSeconds, tableStateOf, writeCheckpoint, type LoopState } from './loop-state';
import { lrFactor } from './lr-schedule';
import type { PartProgress } from './options';
import type { RunSetup } from './run-setup';
import { stagePartBudget } from './stages';
import { TrainError } from './train-errors';
import { makeTrainStep } from './train-step';

/** Parts of the stages after `index` (ETA). */
function laterParts(setup: RunSetup, index: number): number {
  return setup.emb.stages.slice(index + 1).reduce((n, s) => n + stagePartBudget(setup, s), 0);
}

/** One validation batch's row gradients for the table's architecture weights (no dense change). */
async function validationStep(setup: RunSetup, loop: LoopState): Promise<void> {
  const t = loop.trainable as StagedTrainable;
  if (t.validationStep === undefined) return;
  const b = await loop.cursor.next();
  if (b === null) return;
  const width = setup.shape.fields.length * setup.dim;
  const rows = new Float32Array(b.labels.length * width);
  t.forward(b.sparse, rows);
  const g = loop.model.gradients(b.dense, rows, b.labels);
  t.validationStep(b.sparse, g.rowGrads);
}

/** Runs the stage's remaining parts; on return the stage is over (loop.stageOver). */
export async function runStageParts(setup: RunSetup, loop: LoopState): Promise<void> {
  const { ds, options, emb, emit, log, parts, schedule } = setup;
  const index = loop.stageIndex;
  const stage = emb.stages[index] as StageSpec;
  const budget = stagePartBudget(setup, stage);
  const batchSize = options.batchSize;
  const trainStep = makeTrainStep(
    loop.trainable,
    emb.optimizer,
    loop.model,
    batchSize,
    stage.dense,
  );
  // libs/compression's SparseOptimizer declares its lr readonly but reads it at every update: the
  // schedule sets it before each step (the one writer; no method keeps a copy of it).
  const rowsOptimizer = emb.optimizer as unknown as { lr: number };
  const lrPlan = {
    schedule: options.lrSchedule,
    warmupSteps: options.warmupSteps,
    totalSteps: setup.stepsOfParts(budget),
  };
  const serveRowsOf = loop.trainable.forward.bind(loop.trainable);
  const later = laterParts(setup, index);
  for (let p = loop.stagePartsDone; p < budget && !loop.stageOver; p += 1) {
    const epoch = Math.floor(p / parts);
    const k = p % parts;
    const n = schedule[k] as number;
    const startBatch = schedule.slice(0, k).reduce((a, b) => a + b, 0);
    // The stage's step counter: every stage restarts the learning-rate schedule.
    const stepsBefore = setup.stepsOfParts(p);
    const logits = new Float32Array(n * batchSize);
    const labels = new Float32Array(n * batchSize);
    let lossSum = 0;
    let batches = 0;
    let partStepSeconds = 0;
    const partStart = performance.now();
    let lastReport = partStart;
    for await (const b of ds.batches('train', {
      batchSize,
      start: startBatch * batchSize,
      end: (startBatch + n) * batchSize,
    })) {
      const t0 = performance.now();
      if (setup.scheduled) {
        const factor = lrFactor(lrPlan, stepsBefore + batches);
        loop.model.learningRate = options.lr * factor;
        rowsOptimizer.lr = setup.sparseLr * factor;
      }
      const r = trainStep(b);
      if (stage.validationStep === true) await validationStep(setup, loop);
      const t1 = performance.now();
      partStepSeconds += (t1 - t0) / 1000;
      if (!Number.isFinite(r.loss))
        throw new TrainError(
          'bad-argument',
          `training diverged: loss ${r.loss} at ${stage.name === '' ? '' : `stage ${stage.name}, `}part ${p + 1}, batch ${batches + 1} (lower --lr)`,
        );
      logits.set(r.logits, batches * batchSize);
      labels.set(b.labels, batches * batchSize);
      lossSum += r.loss;
      batches += 1;
      // A few progress events per second at most: enough for a live bar, cheap to send.
      if (t1 - lastReport >= 250 && batches < n) {
        lastReport = t1;
        const perBatch = (t1 - partStart) / 1000 / batches;
        emit({
          kind: 'batch',
          part: p + 1,
          parts: budget,
          epoch: epoch + 1,
          samplesTrained: loop.samplesTrained + batches * batchSize,
          batch: batches,
          batches: n,
          loss: lossSum / batches,
          samplesPerSec: (batches * batchSize) / partStepSeconds,
          bestValAuc: loop.best?.auc ?? Number.NaN,
          // Later parts at the mean wall time of this process's parts so far (validation
          // included), or at this part's batch rate before one has ended.
          etaSeconds:
            (n - batches) * perBatch +
            (budget - p - 1 + later) *
              (loop.partsHere > 0 ? loop.partsWallSeconds / loop.partsHere : n * perBatch),
        });
      }
    }
    loop.stepSeconds += partStepSeconds;
    loop.samplesTrained += batches * batchSize;
    loop.partsRun += 1;
    loop.stagePartsDone = p + 1;
    if (setup.scheduled) {
      const done = stepsBefore + batches;
      log(
        `part ${p + 1}: lr factor ${lrFactor(lrPlan, Math.max(0, done - 1)).toPrecision(4)} at step ${done} of ${lrPlan.totalSteps} (dense lr ${loop.model.learningRate.toPrecision(4)})`,
      );
    }
    const val = await evaluateSplit(ds, 'validation', loop.model, serveRowsOf, batchSize);
    const score: PartScore = { part: p + 1, auc: val.auc, logloss: val.logloss, rows: val.rows };
    // Selection is always on validation. Ties count as improvements
    // (docs/methods/reference.md#training-loop); a NaN AUC never improves. A 'meets-budget' stage
    // scores only the parts after which the table meets its budget: the others neither improve
    // nor count towards early stopping.
    const counts =
      stage.keep !== 'meets-budget' ||
      ((loop.trainable as StagedTrainable).meetsBudget?.() ?? true);
    let improved = false;
    if (counts) {
      // Said once, at the first scored part (the one every later NaN fails to beat).
      if (loop.best === undefined && Number.isNaN(val.auc) && val.rows > 0)
        log(
          `validation AUC is undefined: the ${val.rows} validation rows all have the same label, so no later part can score better than the first and early stopping keeps it; train on more rows`,
        );
      improved = loop.best === undefined || val.auc >= loop.best.auc;
      if (improved) {
        loop.best = score;
        loop.sinceBest = 0;
      } else {
        loop.sinceBest += 1;
      }
    }
    if (improved && stage.keep !== 'last')
      loop.kept = keepNow(score, tableStateOf(setup, loop), loop.model);
    // What ends the stage after this part.
    const earlyStop =
      stage.end.kind === 'parts' && loop.sinceBest >= options.earlyStopParts && p + 1 < budget;
    const targetReached =
      stage.end.kind === 'target' && (loop.trainable as StagedTrainable).stageDone?.() === true;
    if (targetReached) loop.stageEnd = 'target';
    else if (earlyStop) loop.stageEnd = 'early-stop';
    else if (p + 1 >= budget) loop.stageEnd = 'budget';
    loop.stageOver = loop.stageEnd !== null;
    const event: PartProgress = {
      kind: 'part',
      part: p + 1,
      parts: budget,
      epoch: epoch + 1,
      batches,
      samples: batches * batchSize,
      samplesPerSec: partStepSeconds > 0 ? (batches * batchSize) / partStepSeconds : 0,
      loss: batches > 0 ? lossSum / batches : Number.NaN,
      trainAuc:
        batches > 0
          ? rocAuc(logits.subarray(0, batches * batchSize), labels.subarray(0, batches * batchSize))
          : Number.NaN,
      valAuc: val.auc,
      valLogloss: val.logloss,
      improved,
      bestPart: loop.best?.part ?? 0,
      bestValAuc: loop.best?.auc ?? Number.NaN,
      partsWithoutImprovement: loop.sinceBest,
      samplesTrained: loop.samplesTrained,
      stage: stage.name,
      stageIndex: index,
      elapsedSeconds: elapsedSeconds(loop),
    };
    const { kind: _kind, checkpoint: _ckpt, ...record } = event;
    loop.history = [...loop.history, record];
    // Written before the part is reported: every part a user saw survives a kill -9.
    const ckptStart = performance.now();
    const checkpoint = writeCheckpoint(setup, loop);
    const checkpointSeconds = (performance.now() - ckptStart) / 1000;
    loop.partsWallSeconds += (performance.now() - partStart) / 1000;
    loop.partsHere += 1;
    emit(checkpoint === undefined ? event : { ...event, checkpoint, checkpointSeconds });
    if (loop.stageEnd === 'early-stop')
      emit({ kind: 'early-stop', part: p + 1, bestPart: loop.best?.part ?? 0 });
  }
  // A stage whose parts all ran before a checkpoint said so (a budget of 0 cannot happen: ≥ 1).
  if (!loop.stageOver) {
    loop.stageOver = true;
    loop.stageEnd ??= stage.end.kind === 'none' ? 'none' : 'budget';
  }
}
