// TrainerService's jobs: each training runs in its own child process (train-child.ts), so the
// service's event loop only relays progress. The job's record in Trainings is updated on every
// event the child sends; watchers see each update. A job ends SUCCEEDED (result received),
// FAILED (error received, or the child died: the error says how) or CANCELLED (killed here).
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { trainer } from '@embpress/proto';
import { ResourceExhaustedError, type Logger } from '@embpress/service-kit';
import { CheckpointRun, defaultVersion, type TrainProgress } from '@embpress/training';
import type { Trainings } from '../trainings';
import type { ChildMessage, JobSummary, StartMessage, TrainJobOptions } from './protocol';

const { TrainingState } = trainer;

export interface TrainingJobsOptions {
  registryRoot: string;
  maxConcurrentJobs: number;
  logger: Logger;
  /** The child's module and node flags (default: train-child.ts through tsx). */
  runner?: { module: string; execArgv: string[] };
}

interface Job {
  id: string;
  child: ChildProcess;
  options: TrainJobOptions;
  cancelled: boolean;
  ended: boolean;
  stderrTail: string;
  exited: Promise<void>;
}

const STDERR_TAIL = 4096;

export class TrainingJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly trainings: Trainings,
    private readonly options: TrainingJobsOptions,
  ) {}

  /** Jobs whose child is still running. */
  running(): number {
    return [...this.jobs.values()].filter((j) => !j.ended).length;
  }

  /** Starts a job for a validated spec (see validateTrainingSpec); returns its first record. */
  start(
    spec: trainer.TrainingSpec,
    options: Omit<TrainJobOptions, 'registryRoot' | 'version'>,
  ): trainer.Training {
    if (this.running() >= this.options.maxConcurrentJobs)
      throw new ResourceExhaustedError(
        `${this.running()} trainings are running, the limit is ${this.options.maxConcurrentJobs}; retry when one ends`,
      );
    const id = randomUUID();
    const now = Date.now();
    const jobOptions: TrainJobOptions = {
      ...options,
      registryRoot: this.options.registryRoot,
      version: defaultVersion(new Date(now)),
    };
    const runner = this.options.runner ?? {
      module: join(__dirname, 'train-child.ts'),
      execArgv: ['--require', 'tsx/cjs'],
    };
    const child = fork(runner.module, [], {
      execArgv: runner.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const job: Job = {
      id,
      child,
      options: jobOptions,
      cancelled: false,
      ended: false,
      stderrTail: '',
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    this.jobs.set(id, job);
    const record = trainer.Training.fromPartial({
      id,
      spec,
      state: TrainingState.TRAINING_STATE_QUEUED,
      createdAtUnixMs: now,
      updatedAtUnixMs: now,
    });
    this.trainings.put(record);
    child.stderr?.on('data', (chunk: Buffer) => {
      job.stderrTail = (job.stderrTail + chunk.toString()).slice(-STDERR_TAIL);
    });
    child.on('message', (message: ChildMessage) => this.onMessage(job, message));
    child.once('exit', (code, signal) => this.onExit(job, code, signal));
    child.once('error', (err) => this.fail(job, `trainer process: ${err.message}`));
    const start: StartMessage = { type: 'start', options: jobOptions };
    child.send(start);
    this.options.logger.info(
      { training: id, model: jobOptions.modelName, version: jobOptions.version, pid: child.pid },
      'training started',
    );
    return record;
  }

  /**
   * Kills a running job's child and resolves with its record once the child is gone (CANCELLED);
   * an ended job's record is returned as it is.
   */
  async cancel(id: string): Promise<trainer.Training | undefined> {
    const job = this.jobs.get(id);
    if (job !== undefined && !job.ended) {
      job.cancelled = true;
      job.child.kill('SIGKILL');
      await job.exited;
    }
    return this.trainings.get(id);
  }

  /** Cancels every running job (service shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.jobs.keys()].map((id) => this.cancel(id)));
  }

  private update(job: Job, patch: Partial<trainer.Training>): void {
    const current = this.trainings.get(job.id);
    if (current === undefined) return;
    this.trainings.put({ ...current, ...patch, updatedAtUnixMs: Date.now() });
  }

  private onMessage(job: Job, message: ChildMessage): void {
    if (job.ended || job.cancelled) return;
    switch (message.type) {
      case 'progress': {
        const progress = progressOf(message.event);
        if (progress !== undefined)
          this.update(job, { state: TrainingState.TRAINING_STATE_RUNNING, progress });
        else if (this.trainings.get(job.id)?.state === TrainingState.TRAINING_STATE_QUEUED)
          this.update(job, { state: TrainingState.TRAINING_STATE_RUNNING });
        return;
      }
      case 'result':
        job.ended = true;
        this.update(job, {
          state: TrainingState.TRAINING_STATE_SUCCEEDED,
          metrics: metricsOf(message.summary),
          modelDir: message.summary.modelDir,
          ...this.resolvedSpec(job, message.summary),
        });
        this.options.logger.info(
          { training: job.id, modelDir: message.summary.modelDir },
          'training succeeded',
        );
        return;
      case 'error':
        this.fail(job, message.message);
        return;
    }
  }

  /** The record's spec with the values the run chose for its zero / unset schedule fields. */
  private resolvedSpec(job: Job, summary: JobSummary): Partial<trainer.Training> {
    const spec = this.trainings.get(job.id)?.spec;
    if (spec === undefined) return {};
    const s = summary.schedule;
    return {
      spec: {
        ...spec,
        preset: s.preset,
        epochs: s.epochs,
        batchSize: s.batchSize,
        learningRate: s.lr,
        optimizer: s.optimizer,
        partsPerEpoch: s.partsPerEpoch,
        earlyStopParts: s.earlyStopParts,
        amsgrad: s.amsgrad,
        dropout: s.dropout,
        lrSchedule: s.lrSchedule,
        warmupSteps: s.warmupSteps,
      },
    };
  }

  private fail(job: Job, error: string): void {
    if (job.ended) return;
    job.ended = true;
    this.update(job, { state: TrainingState.TRAINING_STATE_FAILED, error });
    this.options.logger.warn({ training: job.id, error }, 'training failed');
  }

  private onExit(job: Job, code: number | null, signal: NodeJS.Signals | null): void {
    if (job.cancelled && !job.ended) {
      job.ended = true;
      // The killed run cannot be resumed through the service: its checkpoints are removed. A
      // version is only ever renamed into place whole, so no partial version exists.
      CheckpointRun.of(
        job.options.registryRoot,
        job.options.modelName,
        job.options.version as string,
      ).remove();
      this.update(job, { state: TrainingState.TRAINING_STATE_CANCELLED });
      this.options.logger.info({ training: job.id }, 'training cancelled');
      return;
    }
    const tail = job.stderrTail.trim();
    this.fail(
      job,
      `trainer process exited (${signal === null ? `code ${code}` : `signal ${signal}`}) without a result${tail === '' ? '' : `: ${tail.split('\n').slice(-5).join(' | ')}`}`,
    );
  }
}

/** The proto progress of an event (undefined for events without a position). */
export function progressOf(e: TrainProgress): trainer.TrainingProgress | undefined {
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  if (e.kind === 'batch')
    return {
      epoch: e.epoch,
      part: e.part,
      rowsSeen: e.samplesTrained,
      loss: finite(e.loss),
      samplesPerSec: finite(e.samplesPerSec),
      etaSeconds: finite(e.etaSeconds),
    };
  if (e.kind === 'part')
    return {
      epoch: e.epoch,
      part: e.part,
      rowsSeen: e.samplesTrained,
      loss: finite(e.loss),
      samplesPerSec: finite(e.samplesPerSec),
      etaSeconds: finite((e.elapsedSeconds / e.part) * (e.parts - e.part)),
    };
  return undefined;
}

function metricsOf(s: JobSummary): trainer.TrainingMetrics {
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  return {
    valAuc: finite(s.valAuc),
    valLogloss: finite(s.valLogloss),
    testAuc: finite(s.testAuc),
    testLogloss: finite(s.testLogloss),
    memoryBytes: s.memoryBytes,
    fullBytes: s.fullBytes,
  };
}
