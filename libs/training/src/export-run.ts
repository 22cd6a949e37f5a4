// The end of a run: score the exported state on TEST once (a model rebuilt from the exported
// dense bytes, the exported serving table) and write it as a model version.
import { fullBytes } from '@embpress/compression';
import { CTR_MODEL_FILES, tableToWrite } from '@embpress/model-registry';
import { loadModel, saveModel } from '@embpress/models';
import { evaluateSplit, type Evaluation } from './evaluate';
import type { KeptState } from './kept-state';
import type { LoopState } from './loop-state';
import type { TrainMetrics, TrainResult } from './options';
import type { RunSetup } from './run-setup';
import { isStaged } from './stages';

/**
 * Exports the loop's state (the last stage's kept state, reloaded): `kept` is that state's record
 * (undefined when the stage kept its last state).
 */
export async function exportRun(
  setup: RunSetup,
  loop: LoopState,
  kept: KeptState | undefined,
  trainSeconds: number,
): Promise<TrainResult> {
  const last = loop.reports[loop.reports.length - 1];
  const bestPart = kept?.score.part ?? last?.parts ?? 0;
  const stoppedEarly = last?.end === 'early-stop';
  const { emb, ds, options, shape, emit, log, version, modelDir, backend, schedule0 } = setup;
  const { architecture, dim, sparseOptimizer, sparseLr, parts, plannedSteps } = setup;
  const info = ds.info;
  // The exported state: the last stage's kept state (compressed now for codecs) and its dense
  // weights, both already reloaded into the loop.
  const table = emb.finalize(loop.trainable.toTable());
  const denseWeights = kept?.denseWeights ?? saveModel(loop.model);
  const served = loadModel(denseWeights);
  let val: { auc: number; logloss: number } | undefined = kept?.score;
  let test: Evaluation;
  try {
    const lookup = (ids: Uint32Array, out: Float32Array) => table.lookup(ids, out);
    // A codec changes the rows: its validation numbers are those of the compressed table; a
    // stage that kept its last state has not scored it yet.
    if (emb.kind === 'codec' || val === undefined)
      val = await evaluateSplit(ds, 'validation', served, lookup, options.batchSize);
    test = await evaluateSplit(ds, 'test', served, lookup, options.batchSize);
  } finally {
    served.dispose();
  }
  emit({ kind: 'test', auc: test.auc, logloss: test.logloss, rows: test.rows });

  const metrics: TrainMetrics = {
    valAuc: val.auc,
    valLogloss: val.logloss,
    testAuc: test.auc,
    testLogloss: test.logloss,
  };
  // JSON has no NaN: an empty test split is reported as null.
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const memoryBytes = table.memoryBytes();
  const full = fullBytes(shape);
  const manifest = setup.registryDir.writeVersion({
    model: options.modelName,
    version,
    tables: [tableToWrite('sparse', table)],
    files: new Map<string, Uint8Array>([
      [CTR_MODEL_FILES.denseWeights, denseWeights],
      [
        CTR_MODEL_FILES.vocabulary,
        new TextEncoder().encode(JSON.stringify(ds.vocabulary.toJSON())),
      ],
    ]),
    extra: {
      architecture,
      feature: {
        fields: info.layout.categorical,
        dense: info.layout.dense,
        cardinalities: shape.fields,
        offsets: Array.from(ds.vocabulary.offsets),
        dim,
      },
      metrics: {
        valAuc: finite(metrics.valAuc),
        valLogloss: finite(metrics.valLogloss),
        testAuc: finite(metrics.testAuc),
        testLogloss: finite(metrics.testLogloss),
      },
      method: emb.spec,
      budget: emb.budgetApplied,
      ...(options.accounting === 'paper' ? { accounting: 'paper' } : {}),
      memoryBytes,
      fullBytes: full,
      datasetFingerprint: info.fingerprint,
      backend: backend.name,
      training: {
        data: options.data,
        epochs: options.epochs,
        batchSize: options.batchSize,
        lr: options.lr,
        optimizer: options.optimizer,
        sparseL2: options.sparseL2 ?? 0,
        sparseOptimizer,
        sparseLr,
        amsgrad: options.amsgrad,
        dropout: options.dropout,
        lrSchedule: options.lrSchedule,
        warmupSteps: options.warmupSteps,
        plannedSteps,
        partsPerEpoch: parts,
        earlyStopParts: options.earlyStopParts,
        seed: options.seed,
        partsRun: loop.partsRun,
        bestPart,
        stoppedEarly,
        samplesTrained: loop.samplesTrained,
        trainSeconds,
        ...(isStaged(setup)
          ? { stages: loop.reports.map((r) => ({ ...r, keptValAuc: finite(r.keptValAuc) })) }
          : {}),
      },
    },
  });
  log(`exported ${modelDir}`);
  // The run is done: its checkpoints would only resume into an existing version.
  setup.run.remove();
  return {
    modelDir,
    manifest,
    method: emb.method,
    spec: emb.spec,
    budget: emb.budgetApplied,
    memoryBytes,
    fullBytes: full,
    metrics,
    backend: backend.name,
    trainSeconds,
    samplesPerSec: loop.stepSeconds > 0 ? loop.samplesTrained / loop.stepSeconds : 0,
    samplesTrained: loop.samplesTrained,
    partsRun: loop.partsRun,
    bestPart,
    stoppedEarly,
    stages: loop.reports,
    resumedFromPart: loop.resumedFromPart,
    schedule: schedule0,
    table,
    test,
  };
}
