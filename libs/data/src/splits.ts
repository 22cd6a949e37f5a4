// Train / validation / test splits, ordered like the paper's code (docs/methods/reference.md#data).
// Ranges are over data-row positions in the file (see tabular-reader.ts).
import { DataError } from './errors';

export interface RowRange {
  start: number;
  end: number;
}

export type SplitScheme =
  /**
   * Criteo ("by day"): `chunks` (7) equal consecutive chunks, the first `rows mod chunks` one row
   * longer; train = all but the last chunk; the last chunk's first half (rounded up) = test, its
   * second half = validation.
   */
  | { kind: 'chunks'; chunks?: number }
  /** The last `rows` rows: first half (rounded up) test, second half validation; the rest train. */
  | { kind: 'tail'; rows: number }
  /**
   * Avazu: the tail is the last day of the `hour` column (YYMMDDHH, file sorted by time), found
   * by a scan; then as 'tail'. On the full Avazu file this is the reference's 4,218,938 rows.
   */
  | { kind: 'last-day'; column?: string }
  /** A separate test file: the last `validationFraction` (0.1) of this file is validation. */
  | { kind: 'separate-test'; validationFraction?: number };

export interface SplitPlan {
  /** Data rows of the (train) file. */
  rows: number;
  train: RowRange;
  validation: RowRange;
  /** In the same file; undefined when the test split is a separate file. */
  test: RowRange | undefined;
}

function checkRows(rows: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0)
    throw new DataError('bad-argument', `rows must be a non-negative integer, got ${rows}`);
}

/** Sizes of `chunks` consecutive chunks of `rows` rows, the first `rows mod chunks` one longer. */
export function chunkSizes(rows: number, chunks: number): number[] {
  checkRows(rows);
  if (!Number.isInteger(chunks) || chunks < 2)
    throw new DataError('bad-argument', `chunks must be an integer >= 2, got ${chunks}`);
  const base = Math.floor(rows / chunks);
  const extra = rows % chunks;
  return Array.from({ length: chunks }, (_, i) => base + (i < extra ? 1 : 0));
}

/** The paper's Criteo split (7 chunks by default). */
export function planChunkSplit(rows: number, chunks = 7): SplitPlan {
  const sizes = chunkSizes(rows, chunks);
  const last = sizes[chunks - 1] as number;
  return planTail(rows, last);
}

/** The last `tailRows` rows are test (first half, rounded up) then validation. */
export function planTail(rows: number, tailRows: number): SplitPlan {
  checkRows(rows);
  if (!Number.isSafeInteger(tailRows) || tailRows < 0 || tailRows > rows)
    throw new DataError('bad-argument', `tail of ${tailRows} rows does not fit in ${rows} rows`);
  const trainEnd = rows - tailRows;
  const testEnd = trainEnd + Math.ceil(tailRows / 2);
  return {
    rows,
    train: { start: 0, end: trainEnd },
    test: { start: trainEnd, end: testEnd },
    validation: { start: testEnd, end: rows },
  };
}

/** Train = the first rows, validation = the last `fraction` (rounded); test is another file. */
export function planSeparateTest(rows: number, validationFraction = 0.1): SplitPlan {
  checkRows(rows);
  if (!(validationFraction >= 0 && validationFraction < 1))
    throw new DataError(
      'bad-argument',
      `validationFraction must be in [0, 1), got ${validationFraction}`,
    );
  const val = Math.round(rows * validationFraction);
  return {
    rows,
    train: { start: 0, end: rows - val },
    validation: { start: rows - val, end: rows },
    test: undefined,
  };
}

export function rangeRows(r: RowRange | undefined): number {
  return r === undefined ? 0 : r.end - r.start;
}
