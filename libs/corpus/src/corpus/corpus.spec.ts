import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistryDir } from '@embpress/model-registry';
import { TINY_CORPUS } from '../__fixtures__/tiny-corpus';
import { compressRows } from './compress-rows';
import { CorpusError, parseCorpusJsonl, readCorpusJsonl } from './corpus';
import { readCorpusVersion } from './corpus-version';
import { ingestCorpus } from './ingest';

describe('parseCorpusJsonl', () => {
  const parse = (content: string) => () => parseCorpusJsonl(content, 'c.jsonl');

  it('reads passages, skipping blank lines', () => {
    expect(
      parseCorpusJsonl('{"id":"a","text":"x"}\n\n{"id":"b","text":"y","extra":1}\n', 'c.jsonl'),
    ).toEqual([
      { id: 'a', text: 'x' },
      { id: 'b', text: 'y' },
    ]);
  });

  it('names the file, line and field of bad input', () => {
    expect(parse('{"id":"a","text":"x"}\n{"id":"a",')).toThrow(/^c\.jsonl:2: not a JSON object/);
    expect(parse('[1]')).toThrow('c.jsonl:1: not a JSON object');
    expect(parse('{"id":3,"text":"x"}')).toThrow(
      'c.jsonl:1: field "id" must be a non-empty string',
    );
    expect(parse('{"id":"a","text":"  "}')).toThrow(
      'c.jsonl:1: field "text" must be a non-empty string',
    );
    expect(parse('{"id":"a","text":"x"}\n{"id":"a","text":"y"}')).toThrow(
      'c.jsonl:2: field "id": duplicate id "a" (first on line 1)',
    );
    expect(parse('\n \n')).toThrow('c.jsonl: the corpus is empty');
    expect(() => readCorpusJsonl('/nonexistent/c.jsonl')).toThrow(CorpusError);
  });
});

describe('compressRows', () => {
  const rows = Float32Array.from({ length: 40 * 8 }, (_, i) => Math.sin(i * 0.37));

  it('builds fp32, post-training int8 and registry codecs; refuses trainable methods', () => {
    expect(compressRows('fp32', rows, 40, 8, 1).method).toBe('full');
    const int8 = compressRows('int8', rows, 40, 8, 1);
    expect(int8.method).toBe('int8');
    const out = new Float32Array(8);
    int8.lookup(Uint32Array.of(3), out);
    const step = 2 / 255;
    out.forEach((v, j) => expect(Math.abs(v - (rows[24 + j] as number))).toBeLessThanOrEqual(step));
    expect(compressRows('rowwise-int8', rows, 40, 8, 1).search).toBeDefined();
    expect(() => compressRows('qr(collisions=4)', rows, 40, 8, 1)).toThrow(/post-training codecs/);
    expect(() => compressRows('nosuch', rows, 40, 8, 1)).toThrow(/unknown method/);
  });
});

describe('ingestCorpus', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'embpress-ingest-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes a version whose passages and encoder read back verified', () => {
    const result = ingestCorpus({
      registryRoot: root,
      corpus: 'tiny',
      version: 'v1',
      passages: TINY_CORPUS,
      vectors: { kind: 'lsa', dim: 16 },
      codec: 'fp16',
      keepFp32: true,
    });
    expect(result).toMatchObject({
      rows: 20,
      dim: 16,
      spec: 'fp16',
      fp32Table: 'passages.fp32',
      searchable: true,
    });
    const dir = new ModelRegistryDir(root);
    expect(dir.readVersion('tiny', 'v1').manifest.tables.map((t) => t.name)).toEqual([
      'passages',
      'passages.fp32',
    ]);
    const version = readCorpusVersion(dir, 'tiny', 'v1');
    expect(version.passages.map((p) => p.id)).toEqual(TINY_CORPUS.map((p) => p.id));
    expect(version.encoder?.dim).toBe(16);
    // A changed byte in a retrieval file is caught on read.
    writeFileSync(join(result.versionDir, 'passages.jsonl'), '{"id":"x","text":"y"}\n');
    expect(() => readCorpusVersion(dir, 'tiny', 'v1')).toThrow(
      /does not match its size and SHA-256/,
    );
  });

  it('refuses an empty corpus, duplicate ids, and vectors that do not fit', () => {
    const base = { registryRoot: root, corpus: 'c', codec: 'fp16', keepFp32: false };
    expect(() => ingestCorpus({ ...base, passages: [], vectors: { kind: 'lsa', dim: 8 } })).toThrow(
      'the corpus is empty',
    );
    const dup = [
      { id: 'a', text: 'x y' },
      { id: 'a', text: 'z' },
    ];
    expect(() =>
      ingestCorpus({ ...base, passages: dup, vectors: { kind: 'lsa', dim: 8 } }),
    ).toThrow('duplicate passage id "a"');
    expect(() =>
      ingestCorpus({
        ...base,
        passages: [{ id: 'a', text: 'x' }],
        vectors: { kind: 'precomputed', vectors: new Float32Array(3), dim: 4, source: 't' },
      }),
    ).toThrow('3 vector values for 1 passages of dim 4');
  });
});
