// The text formats we read, as data: Criteo TSV, Avazu CSV, and CSV described by a JSON schema.
// One generic reader (tabular-reader.ts) handles all three from these descriptions.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DataError } from './errors';

export type FormatKind = 'criteo' | 'avazu' | 'csv';

export interface LabelSpec {
  column: string;
  /** Raw values meaning 1. Without it the label must read as the number 0 or 1. */
  positive?: readonly string[];
  /** Raw values meaning 0. Without it (and with `positive`), every other value is 0. */
  negative?: readonly string[];
}

export interface TabularFormat {
  readonly kind: FormatKind;
  readonly delimiter: string;
  /** RFC 4180 double-quoted fields (a quoted field may not span lines). */
  readonly quotes: boolean;
  /** Strip spaces around every field (e.g. UCI files separated by ", "). */
  readonly trim: boolean;
  /** The first non-blank line names the columns. */
  readonly header: boolean;
  /** Column names when there is no header (their count is the expected field count). */
  readonly columns?: readonly string[];
  readonly label: LabelSpec;
  /** A row identifier kept as a string, not a feature (Avazu's 64-bit `id`). */
  readonly key?: string;
  readonly dense: readonly string[];
  /** Criteo's counts must be integers; schema datasets accept any finite number. */
  readonly denseKind: 'integer' | 'number';
  /** Categorical columns in this order, or every column that is not label, key or dense. */
  readonly categorical: readonly string[] | 'rest';
  /** Raw values that mean "missing" besides the empty field. */
  readonly missing: readonly string[];
}

const range = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

export const CRITEO_DENSE: readonly string[] = range('I', 13);
export const CRITEO_CATEGORICAL: readonly string[] = range('C', 26);

/** Criteo DAC / 1TB raw format: tab-separated, no header, label, I1..I13, C1..C26. */
export const CRITEO_FORMAT: TabularFormat = {
  kind: 'criteo',
  delimiter: '\t',
  quotes: false,
  trim: false,
  header: false,
  columns: ['label', ...CRITEO_DENSE, ...CRITEO_CATEGORICAL],
  label: { column: 'label' },
  dense: CRITEO_DENSE,
  denseKind: 'integer',
  categorical: CRITEO_CATEGORICAL,
  missing: [],
};

/** Avazu's 22 categorical columns in file order (docs/methods/reference.md#data). */
export const AVAZU_CATEGORICAL: readonly string[] = [
  'hour',
  'C1',
  'banner_pos',
  'site_id',
  'site_domain',
  'site_category',
  'app_id',
  'app_domain',
  'app_category',
  'device_id',
  'device_ip',
  'device_model',
  'device_type',
  'device_conn_type',
  ...range('C', 21).slice(13),
];

/** Avazu CTR train.csv: header `id,click,hour,...`; every column but id and click is categorical. */
export const AVAZU_FORMAT: TabularFormat = {
  kind: 'avazu',
  delimiter: ',',
  quotes: false,
  trim: false,
  header: true,
  label: { column: 'click' },
  key: 'id',
  dense: [],
  denseKind: 'number',
  categorical: 'rest',
  missing: [],
};

const nonEmpty = z.string().min(1);

/** The JSON schema file of a CSV dataset. */
export const csvSchemaSchema = z
  .object({
    delimiter: z.string().length(1).default(','),
    header: z.boolean().default(true),
    columns: z.array(nonEmpty).optional(),
    quotes: z.boolean().default(true),
    trim: z.boolean().default(false),
    label: z.union([
      nonEmpty,
      z.object({
        column: nonEmpty,
        positive: z.array(z.string()).min(1).optional(),
        negative: z.array(z.string()).min(1).optional(),
      }),
    ]),
    key: nonEmpty.optional(),
    dense: z.array(nonEmpty).default([]),
    categorical: z.union([z.array(nonEmpty), z.literal('rest')]),
    missing: z.array(z.string()).default([]),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.header && s.columns === undefined)
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'required when header is false' });
    const label = typeof s.label === 'string' ? s.label : s.label.column;
    const used = [label, ...(s.key === undefined ? [] : [s.key]), ...s.dense];
    if (s.categorical !== 'rest') used.push(...s.categorical);
    const seen = new Set<string>();
    for (const name of used) {
      if (seen.has(name))
        ctx.addIssue({ code: 'custom', path: [], message: `column ${name} is used twice` });
      seen.add(name);
    }
    if (s.columns !== undefined)
      for (const name of used)
        if (!s.columns.includes(name))
          ctx.addIssue({ code: 'custom', path: ['columns'], message: `no column named ${name}` });
  });

export type CsvSchema = z.input<typeof csvSchemaSchema>;

/** Validates a CSV schema object (as parsed from JSON); `where` names it in errors. */
export function csvFormat(schema: unknown, where = 'schema'): TabularFormat {
  const parsed = csvSchemaSchema.safeParse(schema);
  if (!parsed.success)
    throw new DataError(
      'bad-schema',
      `${where}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      { file: where },
    );
  const s = parsed.data;
  return {
    kind: 'csv',
    delimiter: s.delimiter,
    quotes: s.quotes,
    trim: s.trim,
    header: s.header,
    ...(s.columns === undefined ? {} : { columns: s.columns }),
    label: typeof s.label === 'string' ? { column: s.label } : s.label,
    ...(s.key === undefined ? {} : { key: s.key }),
    dense: s.dense,
    denseKind: 'number',
    categorical: s.categorical,
    missing: s.missing,
  };
}

export function readCsvSchema(path: string): TabularFormat {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new DataError('missing-file', `${path}: no such schema file`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError('bad-schema', `${path}: not JSON (${(err as Error).message})`, {
      file: path,
    });
  }
  return csvFormat(json, path);
}

/** A file to read and how to read it. */
export interface DataSource {
  path: string;
  format: TabularFormat;
}

/**
 * Parses the CLI's `KIND:PATH` (`criteo:train.txt`, `avazu:train.csv.gz`, `csv:data.csv`).
 * A csv source needs a schema: `schemaPath`, or `<PATH without its extensions>.schema.json`.
 */
export function parseDataSource(spec: string, schemaPath?: string): DataSource {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? '' : spec.slice(0, colon);
  const path = spec.slice(colon + 1);
  if (colon < 0 || path === '')
    throw new DataError(
      'bad-argument',
      `data source "${spec}" must be KIND:PATH with KIND criteo, avazu or csv`,
    );
  switch (kind) {
    case 'criteo':
      return { path, format: CRITEO_FORMAT };
    case 'avazu':
      return { path, format: AVAZU_FORMAT };
    case 'csv':
      return {
        path,
        format: readCsvSchema(schemaPath ?? `${path.replace(/(\.[^./]+)+$/, '')}.schema.json`),
      };
    default:
      throw new DataError(
        'bad-argument',
        `data source "${spec}": unknown kind "${kind}" (criteo, avazu or csv)`,
      );
  }
}
