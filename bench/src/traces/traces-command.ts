// `embpress traces summarize FILE [--json] [--slowest N] [--since ISO|MS]`: latency percentiles
// per span name and the per-request breakdown of Rank and Retrieve (summarize.ts) from the JSONL
// span exporter's file (EMBPRESS_SPANS_FILE, var/traces/spans.jsonl under `npm start`) or an
// OTLP JSON export.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { integerOption, UsageError } from '@embpress/service-kit/config';
import { BenchSetupError } from '../bench-setup-error';
import { readSpans } from './span-file';
import { formatTraceSummary, summarizeTraces } from './summarize';

export const TRACES_USAGE = `usage: embpress traces summarize FILE [--json] [--slowest N] [--since TIME]
  FILE: the JSONL span file (EMBPRESS_SPANS_FILE; npm start writes var/traces/spans.jsonl) or an
  OTLP JSON export. --since: only spans that started at or after TIME (ISO date or epoch ms).
`;

function parseSince(raw: string): number {
  const v = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(v))
    throw new UsageError(
      `traces summarize: --since must be an ISO time or epoch ms, got ${JSON.stringify(raw)}`,
    );
  return v;
}

export async function tracesCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(TRACES_USAGE);
    return;
  }
  if (sub !== 'summarize')
    throw new UsageError(`traces: unknown subcommand "${sub}" (available: summarize)`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      slowest: { type: 'string', default: '5' },
      since: { type: 'string' },
    },
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0)
    throw new UsageError(`traces summarize takes one FILE, got ${positionals.length}`);
  const slowest = integerOption('slowest', values.slowest, 0);
  if (!existsSync(file)) throw new BenchSetupError(`traces summarize: no such file ${file}`);
  const summary = summarizeTraces(readSpans(file), {
    slowest,
    ...(values.since === undefined ? {} : { fromMs: parseSince(values.since) }),
  });
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatTraceSummary(summary));
}
