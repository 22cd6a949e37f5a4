// The fatal-error policy in a real process: an uncaught exception or an unawaited rejection is
// logged, health goes NOT_SERVING, and the process exits FATAL_EXIT_CODE (not 0, not by accident).
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { FATAL_EXIT_CODE } from './lifecycle';

function runFixture(mode: 'throw' | 'reject') {
  const child = fork(join(__dirname, '__fixtures__', 'fatal-process.ts'), [mode], {
    execArgv: ['--require', 'tsx/cjs'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, out })),
  );
}

describe('exitOnFatalError', () => {
  it.each([
    ['throw', 'boom in a timer', 'uncaughtException'],
    ['reject', 'nobody awaited this', 'unhandledRejection'],
  ] as const)('on %s: logs, reports NOT_SERVING, exits 70', async (mode, message, origin) => {
    const { code, out } = await runFixture(mode);
    expect(code).toBe(FATAL_EXIT_CODE);
    const fatal = out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) => JSON.parse(line) as { level: number; origin: string; err: { message: string } },
      )
      .find((line) => line.level === 60);
    expect(fatal).toMatchObject({ origin, err: { message } });
    expect(out).toContain('NOT_SERVING');
  });
});
