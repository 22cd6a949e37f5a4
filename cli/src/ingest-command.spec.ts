// `embpress ingest` bad input, in process: usage errors exit 2, data errors exit 1, each with
// one line naming the problem (file, line and field for a malformed corpus).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestCommand } from './ingest-command';

async function run(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c) => ((stdout += String(c)), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((c) => ((stderr += String(c)), true));
  try {
    await ingestCommand(args);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stderr, stdout };
}

describe('embpress ingest', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-ingest-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const registry = () => join(dir, 'models');
  const corpus = (name: string, content: string) => {
    const file = join(dir, name);
    writeFileSync(file, content);
    return file;
  };

  it('refuses bad usage with exit 2', async () => {
    const none = await run(['--name', 'c', '--codec', 'fp16']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give exactly one of --corpus FILE.jsonl and --vectors minilm/);
    expect((await run(['--vectors', 'bert', '--name', 'c', '--codec', 'fp16'])).stderr).toMatch(
      /--vectors must be minilm/,
    );
    expect((await run(['--vectors', 'minilm', '--codec', 'fp16'])).stderr).toMatch(
      /--name is required/,
    );
    expect(
      (await run(['--vectors', 'minilm', '--name', 'c', '--codec', 'fp16', '--dim', '0'])).stderr,
    ).toMatch(/--dim must be an integer >= 1/);
    expect((await run(['--bogus'])).code).toBe(2);
  });

  it('names the file, line and field of a malformed corpus, and refuses duplicates and empty corpora', async () => {
    const args = (file: string) => [
      '--corpus',
      file,
      '--name',
      'c',
      '--codec',
      'fp16',
      '--registry',
      registry(),
    ];
    const bad = corpus('bad.jsonl', '{"id":"a","text":"lava flows"}\n{"id":"b"}\n');
    const r = await run(args(bad));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`embpress ingest: ${bad}:2: field "text" must be a non-empty string\n`);
    const dup = corpus('dup.jsonl', '{"id":"a","text":"x"}\n{"id":"a","text":"y"}\n');
    expect((await run(args(dup))).stderr).toMatch(/dup\.jsonl:2: field "id": duplicate id "a"/);
    const empty = corpus('empty.jsonl', '\n');
    expect((await run(args(empty))).stderr).toMatch(/empty\.jsonl: the corpus is empty/);
    expect((await run(args(join(dir, 'missing.jsonl')))).stderr).toMatch(
      /missing\.jsonl: no such file/,
    );
  });

  it('refuses a bad codec and a version that exists, and writes a good one', async () => {
    const good = corpus(
      'good.jsonl',
      '{"id":"a","text":"lava flows from a volcano"}\n{"id":"b","text":"bees make honey"}\n',
    );
    const base = ['--corpus', good, '--name', 'c', '--registry', registry(), '--version', 'v1'];
    const bad = await run([...base, '--codec', 'pq(nosuch=1)']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^embpress ingest: pq: params: Unrecognized key/m);
    const ok = await run([...base, '--codec', 'rowwise-int8', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toMatchObject({
      corpus: 'c',
      version: 'v1',
      rows: 2,
      dim: 2,
    });
    const again = await run([...base, '--codec', 'rowwise-int8']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
  });
});
