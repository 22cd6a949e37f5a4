// The messages between TrainerService and the child process that runs one training (IPC with
// the 'advanced' serialization, so NaN and typed arrays survive). Parent → child: one `start`.
// Child → parent: `progress` events, then exactly one `result` or `error`, then it exits.
import type { TrainOptions, TrainProgress, TrainProblem } from '@embpress/training';

/** TrainOptions without the callbacks: what crosses the process boundary. */
export type TrainJobOptions = Omit<TrainOptions, 'onProgress'>;

export interface StartMessage {
  type: 'start';
  options: TrainJobOptions;
}

export interface JobSummary {
  modelDir: string;
  spec: string;
  memoryBytes: number;
  fullBytes: number;
  valAuc: number;
  valLogloss: number;
  testAuc: number;
  testLogloss: number;
  samplesTrained: number;
  trainSeconds: number;
  /** The schedule the run used (the spec's zero fields as chosen for the data). */
  schedule: {
    preset: string;
    epochs: number;
    batchSize: number;
    lr: number;
    optimizer: string;
    partsPerEpoch: number;
    earlyStopParts: number;
    amsgrad: boolean;
    dropout: number;
    lrSchedule: string;
    warmupSteps: number;
  };
}

export type ChildMessage =
  | { type: 'progress'; event: TrainProgress }
  | { type: 'result'; summary: JobSummary }
  | { type: 'error'; message: string; problem: TrainProblem | 'internal' };
