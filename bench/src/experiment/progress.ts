// What `embpress experiment` shows while it runs. On a terminal: one status line redrawn in place
// (a bar over the matrix, runs done, the current run and its stage, ETA) with a line per finished
// run scrolling above it, in the style of `embpress train`. Elsewhere (a pipe, CI): the plain
// lines only.
import {
  formatDuration,
  progressBar,
  StatusLine,
  type ProgressOutput,
} from '@embpress/service-kit/terminal';

export class ExperimentProgress {
  private readonly status: StatusLine;
  private done = 0;
  /** Share of the current run done (its training's parts; serving counts as the last tenth). */
  private current = 0;
  private label = '';
  private stage = '';
  /** Seconds of the runs finished in this process (the skipped ones cost nothing). */
  private ranSeconds = 0;
  private ran = 0;
  private runStarted = 0;

  constructor(
    out: ProgressOutput,
    private readonly total: number,
    skipped: number,
  ) {
    this.status = new StatusLine(out);
    this.done = skipped;
  }

  /** ETA: the mean wall time of this process's finished runs × the runs left. */
  etaSeconds(): number {
    const left = this.total - this.done - this.current;
    if (this.ran === 0) {
      // Before the first run ends: extrapolate from the current run's progress.
      const elapsed = (performance.now() - this.runStarted) / 1000;
      return this.current > 0.05 ? (elapsed / this.current) * left : Number.NaN;
    }
    return (this.ranSeconds / this.ran) * left;
  }

  bar(columns: number): string {
    const fraction = this.total === 0 ? 1 : (this.done + this.current) / this.total;
    const head = `run ${Math.min(this.total, this.done + 1)}/${this.total} `;
    const tail = ` ${Math.round(fraction * 100)}% ${this.label}${this.stage === '' ? '' : ` ${this.stage}`} ETA ${formatDuration(this.etaSeconds())}`;
    return progressBar(head, fraction, tail, columns);
  }

  private redraw(): void {
    this.status.draw(this.bar(this.status.columns));
  }

  /** A line that stays (scrolls above the bar on a terminal). */
  line(text: string): void {
    this.status.line(text);
    this.redraw();
  }

  startRun(label: string): void {
    this.label = label;
    this.stage = 'training';
    this.current = 0;
    this.runStarted = performance.now();
    this.redraw();
  }

  /** Training progress of the current run, 0..1 of its parts. */
  training(fraction: number): void {
    this.current = Math.max(0, Math.min(0.9, fraction * 0.9));
    this.redraw();
  }

  serving(): void {
    this.stage = 'serving';
    this.current = 0.9;
    this.redraw();
  }

  finishRun(summary: string): void {
    this.done += 1;
    this.current = 0;
    this.ran += 1;
    this.ranSeconds += (performance.now() - this.runStarted) / 1000;
    this.stage = '';
    this.line(summary);
  }

  /** Clears the bar at the end. */
  close(): void {
    this.status.clear();
  }
}
