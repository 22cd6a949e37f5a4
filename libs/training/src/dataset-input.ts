// Where the trainer's rows come from: a prepared dataset directory (libs/data cache), or a raw
// `KIND:PATH` source that is prepared once into a cache directory keyed by the source files'
// identity (path, size, mtime) and reused by later runs on the same files.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDataSource, prepareDataset, PreparedDataset, type DataSource } from '@embpress/data';
import { TrainError } from './train-errors';

const RAW_KINDS = ['criteo:', 'avazu:', 'csv:'];

export function isRawSource(data: string): boolean {
  return RAW_KINDS.some((k) => data.startsWith(k));
}

function identity(source: DataSource): Record<string, unknown> {
  const path = resolve(source.path);
  let size = -1;
  let mtimeMs = -1;
  try {
    const st = statSync(path);
    size = st.size;
    mtimeMs = st.mtimeMs;
  } catch {
    // prepareDataset reports the missing file with its own clear error.
  }
  return { path, size, mtimeMs, format: source.format };
}

export interface OpenDatasetOptions {
  data: string;
  test?: string;
  /** CSV schema file (csv: sources). */
  schema?: string;
  /** Directory holding prepared caches of raw sources. */
  cacheRoot: string;
  log: (line: string) => void;
}

/** Opens (preparing first when needed) the dataset the trainer reads. */
export async function openDataset(options: OpenDatasetOptions): Promise<PreparedDataset> {
  if (!isRawSource(options.data)) {
    if (options.test !== undefined)
      throw new TrainError(
        'bad-argument',
        `--test is only for raw sources (KIND:PATH); ${options.data} is a prepared directory with its own test split`,
      );
    if (!existsSync(join(options.data, 'dataset.json')))
      throw new TrainError(
        'bad-argument',
        `data "${options.data}" is neither KIND:PATH (criteo, avazu, csv) nor a prepared dataset directory (no dataset.json)`,
      );
    return PreparedDataset.open(options.data);
  }
  const train = parseDataSource(options.data, options.schema);
  const test =
    options.test === undefined ? undefined : parseDataSource(options.test, options.schema);
  const key = createHash('sha256')
    .update(JSON.stringify({ train: identity(train), test: test && identity(test) }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(options.cacheRoot, key);
  if (existsSync(join(dir, 'dataset.json'))) {
    options.log(`using the prepared cache ${dir}`);
    return PreparedDataset.open(dir);
  }
  options.log(`preparing ${options.data} into ${dir}`);
  await prepareDataset({
    train,
    ...(test === undefined ? {} : { test }),
    outDir: dir,
    overwrite: existsSync(dir),
    log: options.log,
  });
  return PreparedDataset.open(dir);
}
