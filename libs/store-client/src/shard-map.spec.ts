import { ConfigError } from '@embpress/service-kit/config';
import {
  parseShardMap,
  rangeIndexOf,
  ShardRouter,
  singleAddressShardMap,
  type ShardMap,
} from './shard-map';

function problems(input: unknown, source?: string): readonly string[] {
  try {
    parseShardMap(input, source);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const valid: ShardMap = {
  shards: [
    { name: 's0', addresses: ['127.0.0.1:7000', '127.0.0.1:7001'] },
    { name: 's1', addresses: ['store-1.store:50051'] },
    { name: 's2', addresses: ['dns:///store-2-headless:50051', '[::1]:7002'] },
  ],
  tables: [
    { model: 'ctr', table: 'C1', placement: { kind: 'table', shard: 's1' } },
    {
      model: 'ctr',
      table: 'C2',
      placement: {
        kind: 'rows',
        ranges: [
          { shard: 's0', start: 0, end: 1000 },
          { shard: 's1', start: 1000, end: 2000 },
          { shard: 's2', start: 2000, end: 3000 },
        ],
      },
    },
  ],
  defaultShard: 's0',
};

describe('parseShardMap', () => {
  it('accepts a valid map as JSON text or as an object, and defaults tables to []', () => {
    expect(parseShardMap(JSON.stringify(valid))).toEqual(valid);
    expect(parseShardMap(valid)).toEqual(valid);
    expect(parseShardMap({ shards: [{ name: 'a', addresses: ['h:1'] }] })).toEqual({
      shards: [{ name: 'a', addresses: ['h:1'] }],
      tables: [],
    });
  });

  it('lists every problem of the shards with its path', () => {
    expect(
      problems(
        {
          shards: [
            { name: 's0', addresses: ['store', 'h:0', 'h:1', 'h:1'] },
            { name: 's0', addresses: [] },
            { name: '-bad', addresses: ['h:2'], extra: 1 },
          ],
          defaultShard: 'nope',
        },
        'shards.json',
      ),
    ).toEqual([
      'shards.json: shards[0].addresses[0]: expected host:port or dns:///name:port, got "store"',
      'shards.json: shards[0].addresses[1]: expected host:port or dns:///name:port, got "h:0"',
      'shards.json: shards[1].addresses: a shard needs at least one address',
      'shards.json: shards[2].name: shard name must be 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit',
      "shards.json: shards[2]: Unrecognized key(s) in object: 'extra'",
      // Cross-field checks run on the same pass: every problem is listed at once.
      'shards.json: shards[0].addresses[3]: "h:1" appears twice in this shard',
      'shards.json: shards[1].name: shard "s0" appears twice',
      'shards.json: defaultShard: unknown shard "nope" (shards: s0, -bad)',
    ]);
    expect(
      problems({
        shards: [
          { name: 's0', addresses: ['h:1', 'h:1'] },
          { name: 's0', addresses: ['h:2'] },
        ],
        defaultShard: 'nope',
      }),
    ).toEqual([
      'shard map: shards[0].addresses[1]: "h:1" appears twice in this shard',
      'shard map: shards[1].name: shard "s0" appears twice',
      'shard map: defaultShard: unknown shard "nope" (shards: s0)',
    ]);
    expect(problems({ shards: [] })).toEqual([
      'shard map: shards: a shard map needs at least one shard',
    ]);
    expect(problems([])).toEqual(['shard map: (root): Expected object, received array']);
  });

  it('refuses row ranges that do not start at 0, leave gaps, overlap, are empty or share a shard', () => {
    const shards = [
      { name: 'a', addresses: ['h:1'] },
      { name: 'b', addresses: ['h:2'] },
      { name: 'c', addresses: ['h:3'] },
    ];
    const rows = (ranges: unknown[]) => ({
      shards,
      tables: [{ model: 'm', table: 't', placement: { kind: 'rows', ranges } }],
    });
    const at = 'shard map: tables[0].placement.ranges';
    expect(problems(rows([{ shard: 'a', start: 5, end: 10 }]))).toEqual([
      `${at}[0].start: the first range must start at 0, got 5`,
    ]);
    expect(
      problems(
        rows([
          { shard: 'a', start: 0, end: 10 },
          { shard: 'b', start: 12, end: 20 },
        ]),
      ),
    ).toEqual([
      `${at}[1].start: expected 10 (the end of ranges[0]): ranges must be contiguous and non-overlapping, got 12`,
    ]);
    expect(
      problems(
        rows([
          { shard: 'a', start: 0, end: 10 },
          { shard: 'b', start: 8, end: 20 },
        ]),
      ),
    ).toEqual([
      `${at}[1].start: expected 10 (the end of ranges[0]): ranges must be contiguous and non-overlapping, got 8`,
    ]);
    expect(
      problems(
        rows([
          { shard: 'a', start: 0, end: 10 },
          { shard: 'b', start: 10, end: 10 },
          { shard: 'a', start: 10, end: 20 },
          { shard: 'x', start: 20, end: 30.5 },
        ]),
      ),
    ).toEqual([
      `${at}[3].end: expected a row id (integer >= 0)`,
      `${at}[1].end: must be greater than start (10), got 10`,
      `${at}[2].shard: shard "a" already holds ranges[0] of this table (one range per shard)`,
      `${at}[3].shard: unknown shard "x" (shards: a, b, c)`,
    ]);
    expect(problems(rows([]))).toEqual([`${at}: a row placement needs at least one range`]);
  });

  it('refuses unknown placements, unknown shards and tables placed twice', () => {
    const shards = [{ name: 'a', addresses: ['h:1'] }];
    expect(
      problems({
        shards,
        tables: [
          { model: 'm', table: 't', placement: { kind: 'hash', shard: 'a' } },
          { model: 'm', table: 'u', placement: { kind: 'table', shard: 'b' } },
          { model: 'm', table: 'u', placement: { kind: 'table', shard: 'a' } },
          { model: 'm', placement: { kind: 'table', shard: 'a' } },
        ],
      }),
    ).toEqual([
      'shard map: tables[0].placement.kind: expected {"kind":"table","shard":...} or {"kind":"rows","ranges":[...]}',
      'shard map: tables[3].table: is required',
    ]);
    expect(
      problems({
        shards,
        tables: [
          { model: 'm', table: 'u', placement: { kind: 'table', shard: 'b' } },
          { model: 'm', table: 'u', placement: { kind: 'table', shard: 'a' } },
        ],
      }),
    ).toEqual([
      'shard map: tables[0].placement.shard: unknown shard "b" (shards: a)',
      'shard map: tables[1]: table "m/u" is placed twice',
    ]);
  });

  it('names the line and column of a JSON syntax error', () => {
    const text = '{\n  "shards": [\n    { "name": "a", },\n  ]\n}';
    const [problem] = problems(text, 'etc/shards.json');
    expect(problem).toMatch(/^etc\/shards\.json: not valid JSON at line 3, column \d+: /);
  });
});

describe('ShardRouter', () => {
  it('places listed tables, sends the others to the default shard, or to none', () => {
    const router = new ShardRouter(valid);
    expect(router.placement('ctr', 'C1')).toEqual({ kind: 'table', shard: 's1' });
    expect(router.placement('ctr', 'C2')?.kind).toBe('rows');
    expect(router.placement('ctr', 'C9')).toEqual({ kind: 'table', shard: 's0' });
    expect(router.placement('other', 'C1')).toEqual({ kind: 'table', shard: 's0' });
    const strict = new ShardRouter({ ...valid, defaultShard: undefined });
    expect(strict.placement('ctr', 'C9')).toBeUndefined();
  });

  it('a single address is one shard holding every table', () => {
    const map = singleAddressShardMap('127.0.0.1:50051');
    expect(parseShardMap(map)).toEqual(map);
    expect(new ShardRouter(map).placement('any', 'table')).toEqual({
      kind: 'table',
      shard: 'store',
    });
  });
});

describe('rangeIndexOf', () => {
  it('finds the range of every id, boundaries included, and -1 past the end', () => {
    const ranges = [
      { shard: 'a', start: 0, end: 1 },
      { shard: 'b', start: 1, end: 1000 },
      { shard: 'c', start: 1000, end: 1001 },
      { shard: 'd', start: 1001, end: 5000 },
    ];
    const cases: Array<[number, number]> = [
      [0, 0],
      [1, 1],
      [999, 1],
      [1000, 2],
      [1001, 3],
      [4999, 3],
      [5000, -1],
      [2 ** 32 - 1, -1],
    ];
    for (const [id, index] of cases) expect(rangeIndexOf(ranges, id)).toBe(index);
    // Against a linear scan, for every id of the table.
    const wrong: number[] = [];
    for (let id = 0; id < 5001; id += 1)
      if (rangeIndexOf(ranges, id) !== ranges.findIndex((r) => id >= r.start && id < r.end))
        wrong.push(id);
    expect(wrong).toEqual([]);
  });
});
