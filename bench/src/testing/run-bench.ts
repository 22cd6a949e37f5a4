// Test helper: runs `bench/src/main.ts <args>` (what `embpress bench <args>` runs) in a child
// process with tsx, capturing its output and exit status.
import { fork } from 'node:child_process';
import { join } from 'node:path';

const MAIN = join(__dirname, '..', 'main.ts');

export interface BenchProcess {
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runBench(args: string[], env: NodeJS.ProcessEnv = {}): BenchProcess {
  const child = fork(MAIN, args, {
    execArgv: ['--require', 'tsx/cjs'],
    env: { ...process.env, EMBPRESS_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { stdout: () => out, stderr: () => err, exit };
}
