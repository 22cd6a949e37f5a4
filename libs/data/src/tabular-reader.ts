// The streaming reader of every text format: yields typed-array batches of raw rows.
// Row positions ("data rows") count every non-blank line after the header, bad lines included,
// so split boundaries do not move when bad lines are skipped.
import { DataError, malformedLine } from './errors';
import { isUnsigned64, parseStrictInteger, parseStrictNumber, splitQuoted } from './field-parsers';
import type { DataSource, TabularFormat } from './formats';
import {
  checkFile,
  countNonBlankLines,
  readLineBlocks,
  type LineStreamOptions,
} from './line-blocks';

/** Which column holds what, resolved from the format and (if any) the header. */
export interface ColumnLayout {
  columns: readonly string[];
  label: number;
  /** -1 when the format has no key column. */
  key: number;
  dense: readonly number[];
  denseNames: readonly string[];
  categorical: readonly number[];
  categoricalNames: readonly string[];
}

/** A batch of raw rows, row-major. */
export interface RawBatch {
  size: number;
  /** 0 or 1 per row. */
  labels: Float32Array;
  /** size × numDense raw values (before the log transform); NaN = missing. */
  dense: Float64Array;
  /** size × numCategorical raw values; '' = missing (and any of the format's missing markers). */
  categorical: string[];
  /** The key column (Avazu `id`, a 64-bit integer kept as text), when the format has one. */
  keys: string[] | undefined;
  /** Data-row position of each row in its file (0-based, skipped bad lines counted). */
  rowIndex: Float64Array;
}

export type OnBadLine = 'error' | 'skip';

export interface ReadStats {
  /** Data rows seen (bad ones included). */
  dataRows: number;
  /** Rows yielded. */
  rows: number;
  /** Lines skipped under onBadLine 'skip'. */
  badLines: number;
  /** The first few skip messages (file:line: field: detail). */
  badLineExamples: string[];
}

export interface BatchOptions {
  /** Rows per batch (default 4096); the last batch may be smaller. */
  batchRows?: number;
  /** 'error' (default): the first malformed line throws. 'skip': it is skipped and counted. */
  onBadLine?: OnBadLine;
  /** Only data rows with start <= position < end. */
  range?: { start: number; end: number };
  /** Filled while reading. */
  stats?: ReadStats;
  /** Passed to the line splitter (e.g. to hash the bytes). */
  lines?: LineStreamOptions;
}

export function emptyStats(): ReadStats {
  return { dataRows: 0, rows: 0, badLines: 0, badLineExamples: [] };
}

const MAX_EXAMPLES = 5;

// Local aliases: global lookups are slow inside jest's vm sandbox, where tests parse many rows.
const { isNaN } = Number;
const NAN = Number.NaN;

export class TabularReader {
  private constructor(
    readonly source: DataSource,
    readonly layout: ColumnLayout,
    /** 1-based line number of the header (0 when there is none). */
    private readonly headerLine: number,
  ) {}

  /** Checks the file and resolves the column layout (reading the header line if any). */
  static async open(source: DataSource): Promise<TabularReader> {
    checkFile(source.path);
    const format = source.format;
    if (!format.header) {
      const columns = format.columns;
      if (columns === undefined)
        throw new DataError('bad-schema', `${source.path}: a format without header needs columns`);
      return new TabularReader(source, resolveLayout(source.path, 0, format, columns), 0);
    }
    for await (const block of readLineBlocks(source.path)) {
      for (let i = 0; i < block.lines.length; i += 1) {
        const line = block.lines[i] as string;
        if (line === '') continue;
        const lineNo = block.firstLine + i;
        const fields = splitFields(line, format);
        if (!Array.isArray(fields))
          throw malformedLine(source.path, lineNo, `header: ${fields.error}`);
        return new TabularReader(
          source,
          resolveLayout(source.path, lineNo, format, fields),
          lineNo,
        );
      }
    }
    throw new DataError('empty-file', `${source.path}: empty file (no header line)`, {
      file: source.path,
    });
  }

  get path(): string {
    return this.source.path;
  }

  /** Data rows in the file (non-blank lines after the header; bad lines included). */
  async countRows(): Promise<number> {
    const lines = await countNonBlankLines(this.source.path);
    return this.headerLine > 0 ? lines - 1 : lines;
  }

  /** Streams the rows as batches. */
  async *batches(options: BatchOptions = {}): AsyncGenerator<RawBatch> {
    const batchRows = options.batchRows ?? 4096;
    if (!Number.isInteger(batchRows) || batchRows < 1)
      throw new DataError('bad-argument', `batchRows must be a positive integer, got ${batchRows}`);
    const onBadLine = options.onBadLine ?? 'error';
    const stats = options.stats ?? emptyStats();
    const start = options.range?.start ?? 0;
    const end = options.range?.end ?? Number.POSITIVE_INFINITY;
    const { format } = this.source;
    const path = this.source.path;
    const layout = this.layout;
    const nDense = layout.dense.length;
    const nCat = layout.categorical.length;
    const nCols = layout.columns.length;
    const missing = new Set(format.missing);
    const denseParse = format.denseKind === 'integer' ? parseStrictInteger : parseStrictNumber;
    const denseWhat = format.denseKind === 'integer' ? 'an integer' : 'a number';
    const labelOf = labelParser(format);

    let batch = newBatch(batchRows, nDense, nCat, layout.key >= 0);
    let n = 0;
    let position = -1;

    for await (const block of readLineBlocks(path, options.lines)) {
      for (let li = 0; li < block.lines.length; li += 1) {
        const line = block.lines[li] as string;
        if (line === '') continue;
        const lineNo = block.firstLine + li;
        if (lineNo <= this.headerLine) continue;
        position += 1;
        if (position < start) continue;
        if (position >= end) {
          if (n > 0) yield finish(batch, n);
          return;
        }
        stats.dataRows += 1;
        const problem = this.parseInto(line, lineNo, batch, n, {
          nCols,
          nDense,
          nCat,
          missing,
          denseParse,
          denseWhat,
          labelOf,
        });
        if (problem !== undefined) {
          if (onBadLine === 'error') throw problem;
          stats.badLines += 1;
          if (stats.badLineExamples.length < MAX_EXAMPLES)
            stats.badLineExamples.push(problem.message);
          continue;
        }
        batch.rowIndex[n] = position;
        n += 1;
        stats.rows += 1;
        if (n === batchRows) {
          yield batch;
          batch = newBatch(batchRows, nDense, nCat, layout.key >= 0);
          n = 0;
        }
      }
    }
    if (n > 0) yield finish(batch, n);
  }

  /** Parses one line into row `r` of `batch`; returns the error instead of throwing it. */
  private parseInto(
    line: string,
    lineNo: number,
    batch: RawBatch,
    r: number,
    ctx: {
      nCols: number;
      nDense: number;
      nCat: number;
      missing: Set<string>;
      denseParse: (s: string) => number;
      denseWhat: string;
      labelOf: (s: string) => number;
    },
  ): DataError | undefined {
    const { format, path } = this.source;
    const layout = this.layout;
    const fields = splitFields(line, format);
    if (!Array.isArray(fields)) return malformedLine(path, lineNo, fields.error);
    if (fields.length !== ctx.nCols)
      return malformedLine(
        path,
        lineNo,
        `expected ${ctx.nCols} fields separated by ${JSON.stringify(format.delimiter)}, got ${fields.length}`,
      );
    const labelText = fields[layout.label] as string;
    const label = ctx.labelOf(labelText);
    if (isNaN(label))
      return malformedLine(
        path,
        lineNo,
        `${JSON.stringify(labelText)} is not a label (${labelWhat(format)})`,
        layout.columns[layout.label],
      );
    batch.labels[r] = label;
    if (batch.keys !== undefined) {
      const key = fields[layout.key] as string;
      if (format.kind === 'avazu' && !isUnsigned64(key))
        return malformedLine(
          path,
          lineNo,
          `${JSON.stringify(key)} is not an unsigned 64-bit integer`,
          layout.columns[layout.key],
        );
      batch.keys[r] = key;
    }
    const dBase = r * ctx.nDense;
    for (let j = 0; j < ctx.nDense; j += 1) {
      const text = fields[layout.dense[j] as number] as string;
      if (text === '' || (ctx.missing.size > 0 && ctx.missing.has(text))) {
        batch.dense[dBase + j] = NAN;
        continue;
      }
      const v = ctx.denseParse(text);
      if (isNaN(v))
        return malformedLine(
          path,
          lineNo,
          `${JSON.stringify(text)} is not ${ctx.denseWhat}`,
          layout.denseNames[j],
        );
      batch.dense[dBase + j] = v;
    }
    const cBase = r * ctx.nCat;
    const cats = batch.categorical;
    const catIndex = layout.categorical;
    if (ctx.missing.size === 0) {
      for (let j = 0; j < ctx.nCat; j += 1)
        cats[cBase + j] = fields[catIndex[j] as number] as string;
    } else {
      for (let j = 0; j < ctx.nCat; j += 1) {
        const text = fields[catIndex[j] as number] as string;
        cats[cBase + j] = ctx.missing.has(text) ? '' : text;
      }
    }
    return undefined;
  }
}

function splitFields(line: string, format: TabularFormat): string[] | { error: string } {
  const fields = format.quotes
    ? splitQuoted(line, format.delimiter, format.trim)
    : line.split(format.delimiter);
  if (format.trim && Array.isArray(fields))
    for (let i = 0; i < fields.length; i += 1) fields[i] = (fields[i] as string).trim();
  return fields;
}

function labelWhat(format: TabularFormat): string {
  const { positive, negative } = format.label;
  if (positive === undefined) return 'expected 0 or 1';
  return negative === undefined
    ? `1 for ${positive.join(', ')}; 0 otherwise, not empty`
    : `1 for ${positive.join(', ')}; 0 for ${negative.join(', ')}`;
}

function labelParser(format: TabularFormat): (s: string) => number {
  const { positive, negative } = format.label;
  if (positive === undefined)
    return (s) => {
      if (s === '0') return 0;
      if (s === '1') return 1;
      const v = parseStrictNumber(s);
      return v === 0 || v === 1 ? v : NAN;
    };
  const pos = new Set(positive);
  const neg = negative === undefined ? undefined : new Set(negative);
  return (s) => {
    if (pos.has(s)) return 1;
    if (neg === undefined) return s === '' ? NAN : 0;
    return neg.has(s) ? 0 : NAN;
  };
}

function resolveLayout(
  path: string,
  headerLine: number,
  format: TabularFormat,
  columns: readonly string[],
): ColumnLayout {
  const where = headerLine > 0 ? `${path}:${headerLine}: header` : `${path}: columns`;
  const index = (name: string): number => {
    const first = columns.indexOf(name);
    if (first < 0)
      throw new DataError(
        'bad-schema',
        `${where} has no column "${name}" (columns: ${columns.join(', ')})`,
        { file: path, ...(headerLine > 0 ? { line: headerLine } : {}), field: name },
      );
    if (columns.indexOf(name, first + 1) >= 0)
      throw new DataError('bad-schema', `${where} names column "${name}" twice`, {
        file: path,
        field: name,
      });
    return first;
  };
  const label = index(format.label.column);
  const key = format.key === undefined ? -1 : index(format.key);
  const dense = format.dense.map(index);
  const taken = new Set([label, key, ...dense]);
  const categorical =
    format.categorical === 'rest'
      ? columns.map((_, i) => i).filter((i) => !taken.has(i))
      : format.categorical.map(index);
  if (categorical.length === 0 && dense.length === 0)
    throw new DataError('bad-schema', `${where}: no feature columns`, { file: path });
  return {
    columns,
    label,
    key,
    dense,
    denseNames: dense.map((i) => columns[i] as string),
    categorical,
    categoricalNames: categorical.map((i) => columns[i] as string),
  };
}

function newBatch(rows: number, nDense: number, nCat: number, keys: boolean): RawBatch {
  return {
    size: rows,
    labels: new Float32Array(rows),
    dense: new Float64Array(rows * nDense),
    categorical: new Array<string>(rows * nCat),
    keys: keys ? new Array<string>(rows) : undefined,
    rowIndex: new Float64Array(rows),
  };
}

/** Trims a partly filled batch to its `n` rows. */
function finish(batch: RawBatch, n: number): RawBatch {
  if (n === batch.size) return batch;
  const nDense = batch.dense.length / batch.size;
  const nCat = batch.categorical.length / batch.size;
  return {
    size: n,
    labels: batch.labels.slice(0, n),
    dense: batch.dense.slice(0, n * nDense),
    categorical: batch.categorical.slice(0, n * nCat),
    keys: batch.keys?.slice(0, n),
    rowIndex: batch.rowIndex.slice(0, n),
  };
}
