// Pass 0 of prepareDataset: the split scheme (the format's default or the caller's) and the row
// boundaries of train, validation and test: a byte-level line count, or for Avazu's last-day
// split a scan of `hour`.
import { DataError } from './errors';
import type { DataSource, FormatKind } from './formats';
import {
  planChunkSplit,
  planSeparateTest,
  planTail,
  type RowRange,
  type SplitPlan,
  type SplitScheme,
} from './splits';
import { emptyStats, type OnBadLine, TabularReader } from './tabular-reader';

export function defaultSplit(kind: FormatKind, separateTest: boolean): SplitScheme {
  if (separateTest) return { kind: 'separate-test', validationFraction: 0.1 };
  return kind === 'avazu' ? { kind: 'last-day', column: 'hour' } : { kind: 'chunks', chunks: 7 };
}

/** Finds the last day of a YYMMDDHH column (file sorted by time) and splits its rows off. */
async function planLastDay(
  reader: TabularReader,
  column: string,
  onBadLine: OnBadLine,
): Promise<SplitPlan> {
  const col = reader.layout.categoricalNames.indexOf(column);
  if (col < 0)
    throw new DataError(
      'bad-schema',
      `${reader.path}: the last-day split needs a categorical column "${column}"`,
    );
  const nf = reader.layout.categoricalNames.length;
  const stats = emptyStats();
  let lastDay: string | undefined;
  let lastDayStart = 0;
  for await (const b of reader.batches({ onBadLine, stats })) {
    for (let r = 0; r < b.size; r += 1) {
      const day = (b.categorical[r * nf + col] as string).slice(0, 6);
      if (day !== lastDay) {
        lastDay = day;
        lastDayStart = b.rowIndex[r] as number;
      }
    }
  }
  return planTail(stats.dataRows, stats.dataRows - lastDayStart);
}

export async function planFor(
  scheme: SplitScheme,
  reader: TabularReader,
  onBadLine: OnBadLine,
): Promise<SplitPlan> {
  switch (scheme.kind) {
    case 'chunks':
      return planChunkSplit(await reader.countRows(), scheme.chunks ?? 7);
    case 'tail':
      return planTail(await reader.countRows(), scheme.rows);
    case 'last-day':
      return planLastDay(reader, scheme.column ?? 'hour', onBadLine);
    case 'separate-test':
      return planSeparateTest(await reader.countRows(), scheme.validationFraction ?? 0.1);
  }
}

/**
 * The test rows that `prepareDataset` splits off `source` when it has no separate test file and
 * no explicit split (the format's default): what a client replays against a model trained on it.
 */
export async function defaultTestRange(
  source: DataSource,
  onBadLine: OnBadLine = 'error',
): Promise<RowRange | undefined> {
  const reader = await TabularReader.open(source);
  return (await planFor(defaultSplit(source.format.kind, false), reader, onBadLine)).test;
}
