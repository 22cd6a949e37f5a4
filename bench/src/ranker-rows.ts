// Raw rows of a dataset file as Rank candidates: what a client of the ranker sends (the raw
// values, missing ones left out), read with the same reader the trainer prepared its data with,
// so that the ranker's scores can be compared with the trainer's predictions row for row.
import { parseDataSource, TabularReader } from '@embpress/data';
import type { ranker } from '@embpress/proto';

export interface RawRow {
  /** Data-row position in the file. */
  row: number;
  label: number;
  /** NaN = missing. */
  dense: number[];
  /** '' = missing. */
  categorical: string[];
}

export interface RawRows {
  denseNames: readonly string[];
  categoricalNames: readonly string[];
  rows: RawRow[];
}

/** The data rows `range` (all when absent) of `source` (e.g. `criteo:/path/train.txt`). */
export async function readRawRows(
  source: string,
  range?: { start: number; end: number },
): Promise<RawRows> {
  const reader = await TabularReader.open(parseDataSource(source));
  const { denseNames, categoricalNames } = reader.layout;
  const nd = denseNames.length;
  const nc = categoricalNames.length;
  const rows: RawRow[] = [];
  for await (const b of reader.batches(range === undefined ? {} : { range })) {
    for (let r = 0; r < b.size; r += 1)
      rows.push({
        row: b.rowIndex[r] as number,
        label: b.labels[r] as number,
        dense: Array.from(b.dense.subarray(r * nd, (r + 1) * nd)),
        categorical: b.categorical.slice(r * nc, (r + 1) * nc),
      });
  }
  return { denseNames, categoricalNames, rows };
}

/** One raw row as the features of a candidate; missing values are left out. */
export function rowFeatures(data: RawRows, row: RawRow): ranker.Feature[] {
  const features: ranker.Feature[] = [];
  row.dense.forEach((value, i) => {
    if (!Number.isNaN(value))
      features.push({ name: data.denseNames[i] as string, value: { $case: 'numeric', value } });
  });
  row.categorical.forEach((value, i) => {
    if (value !== '')
      features.push({
        name: data.categoricalNames[i] as string,
        value: { $case: 'categorical', value },
      });
  });
  return features;
}

/** The same rows as feature columns (NaN and "" stay: they mark missing values there too). */
export function rowColumns(data: RawRows, rows: readonly RawRow[]): ranker.FeatureColumn[] {
  return [
    ...data.denseNames.map((name, i) => ({
      name,
      numeric: rows.map((r) => r.dense[i] as number),
      categorical: [],
    })),
    ...data.categoricalNames.map((name, i) => ({
      name,
      numeric: [],
      categorical: rows.map((r) => r.categorical[i] as string),
    })),
  ];
}
