// `embpress experiment | report | traces ...`: the measurement tools beside the benchmarks, each
// loaded only when it runs. Exit code 2 for a usage mistake or a missing input (the message, no
// stack), 1 for any other failure.
import { isOptionError, lazyRequire, UsageError } from '@embpress/service-kit/config';
import { BenchSetupError } from './bench-setup-error';

export const TOOLS = {
  experiment: () =>
    lazyRequire<typeof import('./experiment/experiment-command')>(
      require.resolve('./experiment/experiment-command'),
    ).experimentCommand,
  report: () =>
    lazyRequire<typeof import('./report/report-command')>(
      require.resolve('./report/report-command'),
    ).reportCommand,
  traces: () =>
    lazyRequire<typeof import('./traces/traces-command')>(
      require.resolve('./traces/traces-command'),
    ).tracesCommand,
} satisfies Record<string, () => (args: string[]) => Promise<void>>;

export type ToolName = keyof typeof TOOLS;

export function toolCommand(tool: ToolName, args: string[]): void {
  TOOLS[tool]()(args).catch((err: unknown) => {
    const expected =
      err instanceof BenchSetupError || err instanceof UsageError || isOptionError(err);
    process.stderr.write(
      `embpress ${tool}: ${expected ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    if (err instanceof UsageError || isOptionError(err))
      process.stderr.write(`(embpress ${tool} --help shows its options)\n`);
    process.exitCode = expected ? 2 : 1;
  });
}
