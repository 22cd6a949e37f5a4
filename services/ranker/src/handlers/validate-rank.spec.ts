import type { ranker } from '@embpress/proto';
import { InvalidArgumentError } from '@embpress/service-kit';
import { loadRankerConfig } from '../config';
import { validateRankRequest } from './validate-rank';

const config = { ...loadRankerConfig({}), maxCandidates: 2 };
const fail = (request: Parameters<typeof validateRankRequest>[0]) => {
  try {
    validateRankRequest(request, config);
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.message;
    throw err;
  }
  return 'valid';
};

describe('validateRankRequest', () => {
  const candidate = (id: string) => ({
    id,
    features: [{ name: 'C1', value: { $case: 'categorical' as const, value: 'a' } }],
  });
  it('accepts a well-formed request', () => {
    expect(
      fail({
        model: 'ctr',
        version: '',
        context: [],
        candidateIds: [],
        columns: [],
        candidates: [candidate('a'), candidate('b')],
      }),
    ).toBe('valid');
  });
  it('names the offending field', () => {
    expect(
      fail({
        model: 'ctr',
        version: '',
        context: [],
        candidateIds: [],
        columns: [],
        candidates: [candidate('a'), candidate('b'), candidate('c')],
      }),
    ).toBe('candidates: has 3 entries, more than the limit of 2');
    expect(
      fail({
        model: 'ctr',
        version: '',
        context: [],
        candidateIds: [],
        columns: [],
        candidates: [candidate('a'), candidate('a')],
      }),
    ).toBe('candidates[1].id: "a" appears twice');
    expect(
      fail({
        model: 'ctr',
        version: '',
        context: [{ name: 'I1', value: undefined }],
        candidateIds: [],
        columns: [],
        candidates: [candidate('a')],
      }),
    ).toBe('context[0].value: needs categorical or numeric');
    expect(
      fail({
        model: 'ctr',
        version: 'v/1',
        context: [],
        candidates: [candidate('a')],
        candidateIds: [],
        columns: [],
      }),
    ).toMatch(/^version: must be/);
  });
  it('checks the columnar form: one form only, ids, one list per column, no infinity', () => {
    const columnar = (over: Partial<ranker.RankRequest>) =>
      fail({
        model: 'ctr',
        version: '',
        context: [],
        candidates: [],
        candidateIds: ['a', 'b'],
        columns: [{ name: 'I1', numeric: [1, NaN], categorical: [] }],
        ...over,
      });
    expect(columnar({})).toBe('valid');
    expect(columnar({ candidates: [candidate('a')] })).toMatch(/^candidates: give the candidates/);
    expect(columnar({ candidateIds: ['a', 'a'] })).toBe('candidate_ids[1]: "a" appears twice');
    expect(columnar({ candidateIds: ['a', 'b', 'c'] })).toBe(
      'candidate_ids: has 3 entries, more than the limit of 2',
    );
    expect(
      columnar({ columns: [{ name: 'C1', numeric: [1, 2], categorical: ['x', 'y'] }] }),
    ).toMatch(/^columns\[0\]: needs either numeric or categorical/);
    expect(columnar({ columns: [{ name: 'C1', numeric: [], categorical: [] }] })).toMatch(
      /^columns\[0\]: needs either/,
    );
    expect(
      columnar({ columns: [{ name: 'I1', numeric: [1, Infinity], categorical: [] }] }),
    ).toMatch(/^columns\[0\]\.numeric\[1\]/);
    expect(
      columnar({
        columns: [
          { name: 'I1', numeric: [1, 2], categorical: [] },
          { name: 'I1', numeric: [1, 2], categorical: [] },
        ],
      }),
    ).toBe('columns[1].name: "I1" appears twice');
  });
  it('defaults the store address to the local store', () => {
    expect(loadRankerConfig({}).store.address).toBe('127.0.0.1:50051');
  });
});

describe('ranker store shard map configuration', () => {
  it('parses EMBPRESS_RANKER_STORE_SHARD_MAP and names problems in it', () => {
    const { mkdtempSync, writeFileSync, rmSync } = require('node:fs') as typeof import('node:fs');
    const { join } = require('node:path') as typeof import('node:path');
    const { tmpdir } = require('node:os') as typeof import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'embpress-shards-'));
    try {
      const file = join(dir, 'shards.json');
      writeFileSync(
        file,
        JSON.stringify({
          shards: [{ name: 's0', addresses: ['127.0.0.1:50061'] }],
          tables: [],
          defaultShard: 's0',
        }),
      );
      expect(
        loadRankerConfig({ EMBPRESS_RANKER_STORE_SHARD_MAP: file }).shardMap?.shards[0]?.name,
      ).toBe('s0');
      writeFileSync(file, JSON.stringify({ shards: [], tables: [] }));
      expect(() => loadRankerConfig({ EMBPRESS_RANKER_STORE_SHARD_MAP: file })).toThrow(
        /EMBPRESS_RANKER_STORE_SHARD_MAP/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
