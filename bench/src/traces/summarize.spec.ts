// `embpress traces summarize` on hand-built traces (__fixtures__/rank-traces.jsonl: two Rank
// requests, one Retrieve and an untraced store lookup, every duration chosen so the breakdown is
// known), the same Rank trace as an OTLP JSON export, and the command's output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpans, readSpans } from './span-file';
import { summarizeSpans } from './stage-summary';
import { formatTraceSummary, summarizeTraces } from './summarize';
import { tracesCommand } from './traces-command';

const FIXTURES = join(__dirname, '__fixtures__');
const JSONL = join(FIXTURES, 'rank-traces.jsonl');
const OTLP = join(FIXTURES, 'rank-trace.otlp.json');

describe('traces summarize', () => {
  it('gives percentiles per span name and service', () => {
    const s = summarizeTraces(readSpans(JSONL));
    expect(s.spans).toBe(17);
    expect(s.traces).toBe(4);
    const rank = s.byName.find((n) => n.name.endsWith('RankerService/Rank'));
    expect(rank).toMatchObject({ count: 2, errors: 1, p50Ms: 10, p90Ms: 30, p99Ms: 30, maxMs: 30 });
    const storeServer = s.byName.filter(
      (n) => n.service === 'embpress-store' && n.name.endsWith('/LookupStream'),
    );
    expect(storeServer).toHaveLength(1);
    expect(storeServer[0]?.count).toBe(4);
  });

  it('breaks each Rank into stages, store call client vs server and the gap between them', () => {
    const s = summarizeTraces(readSpans(JSONL));
    const rank = s.operations.find((o) => o.operation === 'Rank');
    expect(rank).toMatchObject({ requests: 2, errors: 1, service: 'embpress-ranker' });
    const c = rank?.components ?? {};
    expect(Object.keys(c)).toEqual([
      'total',
      'feature mapping',
      'store lookup',
      'decode',
      'dense forward',
      'store LookupStream:BatchLookup client',
      'store LookupStream:BatchLookup server',
      'store LookupStream:BatchLookup network/queue gap',
      'other',
    ]);
    expect(c['store LookupStream:BatchLookup client']).toMatchObject({ p50Ms: 5, maxMs: 18 });
    expect(c['store LookupStream:BatchLookup server']).toMatchObject({ p50Ms: 2, maxMs: 3 });
    // 5 − 2 and 18 − 3.
    expect(c['store LookupStream:BatchLookup network/queue gap']).toMatchObject({
      p50Ms: 3,
      maxMs: 15,
    });
    // Only trace a has a decode span.
    expect(c.decode?.count).toBe(1);
    // 10 − (1 + 6 + 2) and 30 − (2 + 20 + 4): decode is inside the store lookup, not counted twice.
    expect(c.other?.p50Ms).toBeCloseTo(1, 9);
    expect(c.other?.maxMs).toBeCloseTo(4, 9);

    const retrieve = s.operations.find((o) => o.operation === 'Retrieve');
    expect(retrieve?.requests).toBe(1);
    expect(retrieve?.components['store LookupStream:Search network/queue gap']?.p50Ms).toBe(2);
    expect(retrieve?.components.other?.p50Ms).toBe(2);
  });

  it('lists the slowest requests first, with their breakdown', () => {
    const s = summarizeTraces(readSpans(JSONL), { slowest: 2 });
    expect(s.slowest.map((t) => [t.operation, t.durationMs, t.error])).toEqual([
      ['Rank', 30, true],
      ['Rank', 10, false],
    ]);
    expect(s.slowest[0]?.traceId).toBe('b'.repeat(32));
    expect(s.slowest[0]?.breakdown['store lookup']).toBe(20);
  });

  it('reads an OTLP JSON export to the same breakdown as the JSONL file', () => {
    const otlp = summarizeTraces(readSpans(OTLP));
    const jsonl = summarizeTraces(readSpans(JSONL).filter((s) => s.traceId === 'a'.repeat(32)));
    expect(otlp.spans).toBe(7);
    expect(otlp.operations).toEqual(jsonl.operations);
    const server = readSpans(OTLP).find(
      (s) => s.kind === 'SERVER' && s.service === 'embpress-store',
    );
    expect(server?.attributes['embpress.stream_call']).toBe('BatchLookup');
  });

  it('skips a cut last line, refuses a broken one in the middle', () => {
    const lines = readFileSync(JSONL, 'utf8').split('\n').slice(0, 2);
    const text = [...lines, '{"traceId":"x'].join('\n');
    expect(parseSpans(text)).toHaveLength(2);
    expect(() => parseSpans('{"a":\n{}\n')).toThrow(/spans:1: not a JSON line/);
  });

  it('is what the ranker bench sums its stages from', () => {
    const s = summarizeSpans(JSONL, 0);
    expect(s.cache).toEqual({ hits: 10, misses: 30, spans: 1 });
    expect(s.answered).toBe(1);
    // The store's BatchLookup messages of the LookupStream, the untraced one included.
    expect(s.stages['store.BatchLookup (server)']?.count).toBe(3);
  });

  it('prints the breakdown, and --json the summary', async () => {
    const text = formatTraceSummary(summarizeTraces(readSpans(JSONL)));
    expect(text).toContain('Rank (embpress-ranker): 2 requests, 1 errors; per request (ms):');
    expect(text).toMatch(/store LookupStream:BatchLookup network\/queue gap\s+2\s+9\.00\s+3\.00/);
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await tracesCommand(['summarize', JSONL, '--json', '--slowest', '1']);
    } finally {
      write.mockRestore();
    }
    const json = JSON.parse(out.join('')) as ReturnType<typeof summarizeTraces>;
    expect(json.slowest).toHaveLength(1);
    await expect(tracesCommand(['summarize'])).rejects.toThrow('takes one FILE');
    await expect(tracesCommand(['summarize', join(FIXTURES, 'none.jsonl')])).rejects.toThrow(
      'no such file',
    );
  });
});
