// What `embpress train` shows while it trains. On a terminal: one status line redrawn in place
// (part, a bar over the run, rows/s, loss, best validation AUC so far, ETA) with the per-part log
// lines scrolling above it. Elsewhere (a pipe, a log file, CI): the plain log lines only, one per
// event, so logs stay greppable and free of control characters.
import {
  formatDuration,
  progressBar as bar,
  StatusLine,
  type ProgressOutput,
} from '@embpress/service-kit/terminal';

type TrainProgress = import('@embpress/training').TrainProgress;

const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** The plain line of an event, or undefined for events only the terminal bar shows. */
export function progressLine(e: TrainProgress): string | undefined {
  switch (e.kind) {
    case 'log':
      return e.message;
    case 'batch':
      return undefined;
    case 'resume':
      return `resuming after part ${e.part} from ${e.checkpoint}${e.stage === '' ? '' : ` (stage ${e.stage}, part ${e.stagePart})`}`;
    case 'stage':
      return `stage ${e.index + 1}/${e.stages}: ${e.name}`;
    case 'part': {
      const eta = (e.elapsedSeconds / e.part) * (e.parts - e.part);
      return `part ${e.part}/${e.parts} (epoch ${e.epoch}${e.stage === '' ? '' : `, stage ${e.stage}`}): ${e.samples} rows at ${Math.round(e.samplesPerSec)} rows/s, loss ${fixed(e.loss, 4)}, train AUC ${fixed(e.trainAuc, 4)}, val AUC ${fixed(e.valAuc, 4)}, val logloss ${fixed(e.valLogloss, 4)}${e.improved ? ' (best)' : ` (best ${fixed(e.bestValAuc, 4)} at part ${e.bestPart})`}, ETA ${formatDuration(eta)}`;
    }
    case 'early-stop':
      return `early stop after part ${e.part}: best part ${e.bestPart}`;
    case 'test':
      return `test (best part): AUC ${fixed(e.auc, 4)}, logloss ${fixed(e.logloss, 4)} over ${e.rows} rows`;
  }
}

/** The terminal status line of a batch event, at most `columns` characters. */
export function progressBar(e: Extract<TrainProgress, { kind: 'batch' }>, columns: number): string {
  const done = (e.part - 1 + e.batch / e.batches) / e.parts;
  const tail = ` ${Math.round(done * 100)}% ${Math.round(e.samplesPerSec).toLocaleString('en-US')} rows/s loss ${fixed(e.loss, 4)} AUC ${fixed(e.bestValAuc, 4)} ETA ${formatDuration(e.etaSeconds)}`;
  return bar(`part ${e.part}/${e.parts} `, done, tail, columns);
}

/** Routes events to a redrawn status line (TTY) or to plain lines. */
export class TrainProgressView {
  private readonly status: StatusLine;

  constructor(out: ProgressOutput) {
    this.status = new StatusLine(out);
  }

  show(e: TrainProgress): void {
    if (e.kind === 'batch') this.status.draw(progressBar(e, this.status.columns));
    else {
      const line = progressLine(e);
      if (line !== undefined) this.status.line(line);
    }
  }

  /** Clears a bar still on screen (before the summary or an error). */
  end(): void {
    this.status.clear();
  }
}
