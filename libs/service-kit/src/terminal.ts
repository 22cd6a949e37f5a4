// Progress on a terminal, one way for every long command (`embpress train`, `experiment`): one
// status line redrawn in place, with lasting lines scrolling above it. Elsewhere (a pipe, a log
// file, CI) only the lasting lines are written, so logs stay greppable and free of control codes.

export interface ProgressOutput {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const CLEAR_LINE = '\r\x1b[2K';

export class StatusLine {
  private shown = false;

  constructor(private readonly out: ProgressOutput) {}

  get columns(): number {
    return this.out.columns ?? 80;
  }

  /** Draws `text` as the status line (a terminal only). */
  draw(text: string): void {
    if (this.out.isTTY !== true) return;
    this.out.write(`${CLEAR_LINE}${text}`);
    this.shown = true;
  }

  /** A line that stays: it replaces the status line, which the next `draw` puts below it. */
  line(text: string): void {
    this.out.write(`${this.shown ? CLEAR_LINE : ''}${text}\n`);
    this.shown = false;
  }

  /** Clears a status line still on screen (before a summary or an error). */
  clear(): void {
    if (this.shown) this.out.write(CLEAR_LINE);
    this.shown = false;
  }
}

/** `head[#####-----]tail` in at most `columns` characters (no bar when it would be too short). */
export function progressBar(head: string, fraction: number, tail: string, columns: number): string {
  const width = Math.min(30, columns - head.length - tail.length - 2);
  if (width < 5) return `${head}${tail.trimStart()}`.slice(0, Math.max(0, columns - 1));
  const filled = Math.min(width, Math.round(fraction * width));
  return `${head}[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${tail}`;
}

/** `42s`, `3m07s`, `2h05m`; `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
