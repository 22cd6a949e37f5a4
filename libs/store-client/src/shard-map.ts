// The shard map: where the tables of each model live when the store runs as several processes
// (DESIGN.md §5, issue #5 item 4). Configuration data, validated once with zod; every problem
// names its JSON path so the operator fixes them all in one go. Two placements:
//  - `table`: the whole table lives on one shard;
//  - `rows`: the table is cut into contiguous row ranges [start, end); the shard of a range holds
//    those rows as its own table of the same name, addressed from 0 (global id - start).
// A table the map does not list goes to `defaultShard` when there is one.
// grpc-free (like @embpress/service-kit/config): a service parses it with the rest of its config;
// reading the file stays with the caller.
import { z } from 'zod';
import { ConfigError } from '@embpress/service-kit/config';

export interface ShardSpec {
  name: string;
  /** `host:port` (or `dns:///name:port`) of each replica; all hold the same data. */
  addresses: string[];
}

export interface RowRange {
  shard: string;
  /** First global row id of the range. */
  start: number;
  /** One past the last global row id. */
  end: number;
}

export type Placement = { kind: 'table'; shard: string } | { kind: 'rows'; ranges: RowRange[] };

export interface TablePlacement {
  model: string;
  table: string;
  placement: Placement;
}

export interface ShardMap {
  shards: ShardSpec[];
  tables: TablePlacement[];
  /** Shard of every table the map does not list; unset: such tables are an error. */
  defaultShard?: string;
}

/** The shard every table goes to when the client is given one address instead of a map. */
export const SINGLE_SHARD = 'store';

/** A one-shard map: everything on `address` (a plain store, or a dns:/// headless service). */
export function singleAddressShardMap(address: string): ShardMap {
  return {
    shards: [{ name: SINGLE_SHARD, addresses: [address] }],
    tables: [],
    defaultShard: SINGLE_SHARD,
  };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_ROWS = 2 ** 32;
const quoted = (v: unknown) => JSON.stringify(v);

const name = (what: string) =>
  z
    .string({ required_error: 'is required', invalid_type_error: `expected a ${what} string` })
    .regex(
      NAME,
      `${what} must be 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit`,
    );

/** `host:port`, `[v6]:port` or `dns:///name:port`, port 1-65535 (the same rule as *_ADDRESS). */
export function isStoreAddress(value: string): boolean {
  const match = /^(?:dns:\/\/\/)?([A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(value);
  if (match === null) return false;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535;
}

const addressSchema = z
  .string({ invalid_type_error: 'expected a "host:port" string' })
  .refine(isStoreAddress, (v) => ({
    message: `expected host:port or dns:///name:port, got ${quoted(v)}`,
  }));

const rowId = (what: string) =>
  z
    .number({ required_error: 'is required', invalid_type_error: `expected ${what}` })
    .int(`expected ${what}`)
    .min(0, `expected ${what}`)
    .max(MAX_ROWS, `expected ${what}`);

const shardSchema = z
  .object({
    name: name('shard name'),
    addresses: z.array(addressSchema).min(1, 'a shard needs at least one address'),
  })
  .strict();

const rangeSchema = z
  .object({
    shard: name('shard name'),
    start: rowId('a row id (integer >= 0)'),
    end: rowId('a row id (integer >= 0)'),
  })
  .strict();

const placementSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('table'), shard: name('shard name') }).strict(),
    z
      .object({
        kind: z.literal('rows'),
        ranges: z.array(rangeSchema).min(1, 'a row placement needs at least one range'),
      })
      .strict(),
  ],
  {
    errorMap: () => ({
      message: 'expected {"kind":"table","shard":...} or {"kind":"rows","ranges":[...]}',
    }),
  },
);

const tableSchema = z
  .object({ model: name('model name'), table: name('table name'), placement: placementSchema })
  .strict();

const shardMapSchema = z
  .object({
    shards: z.array(shardSchema).min(1, 'a shard map needs at least one shard'),
    tables: z.array(tableSchema).default([]),
    defaultShard: name('shard name').optional(),
  })
  .strict()
  .superRefine((map, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const shards = new Set<string>();
    map.shards.forEach((shard, i) => {
      if (shards.has(shard.name))
        issue(['shards', i, 'name'], `shard ${quoted(shard.name)} appears twice`);
      shards.add(shard.name);
      const seen = new Set<string>();
      shard.addresses.forEach((address, j) => {
        if (seen.has(address))
          issue(['shards', i, 'addresses', j], `${quoted(address)} appears twice in this shard`);
        seen.add(address);
      });
    });
    const known = [...shards].join(', ');
    const requireShard = (path: (string | number)[], shard: string) => {
      if (!shards.has(shard)) issue(path, `unknown shard ${quoted(shard)} (shards: ${known})`);
    };
    if (map.defaultShard !== undefined) requireShard(['defaultShard'], map.defaultShard);
    const placed = new Set<string>();
    map.tables.forEach((entry, i) => {
      const key = `${entry.model}/${entry.table}`;
      if (placed.has(key)) issue(['tables', i], `table ${quoted(key)} is placed twice`);
      placed.add(key);
      const { placement } = entry;
      if (placement.kind === 'table') {
        requireShard(['tables', i, 'placement', 'shard'], placement.shard);
        return;
      }
      const holders = new Map<string, number>();
      let expectedStart = 0;
      placement.ranges.forEach((range, j) => {
        const path = ['tables', i, 'placement', 'ranges', j];
        requireShard([...path, 'shard'], range.shard);
        // A shard's store holds the range as a table named like the whole one: two ranges of
        // the same table on one shard would need two tables of the same name.
        const other = holders.get(range.shard);
        if (other !== undefined)
          issue(
            [...path, 'shard'],
            `shard ${quoted(range.shard)} already holds ranges[${other}] of this table (one range per shard)`,
          );
        else holders.set(range.shard, j);
        if (range.start !== expectedStart)
          issue(
            [...path, 'start'],
            j === 0
              ? `the first range must start at 0, got ${range.start}`
              : `expected ${expectedStart} (the end of ranges[${j - 1}]): ranges must be contiguous and non-overlapping, got ${range.start}`,
          );
        if (range.end <= range.start)
          issue([...path, 'end'], `must be greater than start (${range.start}), got ${range.end}`);
        expectedStart = range.end;
      });
    });
  });

/**
 * Validates a shard map given as JSON text or as an already parsed value. Throws ConfigError with
 * every problem, each as `${source}: <json path>: <what is wrong>`.
 */
export function parseShardMap(input: unknown, source = 'shard map'): ShardMap {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new ConfigError([`${source}: ${jsonErrorWithLine(input, err as Error)}`]);
    }
  }
  const result = shardMapSchema.safeParse(value);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map(
      (issue) => `${source}: ${formatPath(issue.path) || '(root)'}: ${issue.message}`,
    ),
  );
}

/** `tables[2].placement.ranges[1].start` */
function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** V8 (Node 20) reports a JSON error by character position; people look for a line. */
function jsonErrorWithLine(text: string, err: Error): string {
  const match = /at position (\d+)/.exec(err.message);
  if (match === null || /line \d+/.test(err.message)) return `not valid JSON: ${err.message}`;
  const before = text.slice(0, Number(match[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `not valid JSON at line ${line}, column ${column}: ${err.message}`;
}

/** Placement of `model`/`table`: the map's entry, else the default shard, else undefined. */
export class ShardRouter {
  private readonly placements = new Map<string, Placement>();

  constructor(readonly map: ShardMap) {
    for (const entry of map.tables)
      this.placements.set(key(entry.model, entry.table), entry.placement);
  }

  placement(model: string, table: string): Placement | undefined {
    const placed = this.placements.get(key(model, table));
    if (placed !== undefined) return placed;
    return this.map.defaultShard === undefined
      ? undefined
      : { kind: 'table', shard: this.map.defaultShard };
  }
}

const key = (model: string, table: string) => `${model}\u0000${table}`;

/** Index of the range holding global row `id` (ranges contiguous from 0), or -1 past the end. */
export function rangeIndexOf(ranges: readonly RowRange[], id: number): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const range = ranges[mid] as RowRange;
    if (id < range.start) hi = mid - 1;
    else if (id >= range.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}
