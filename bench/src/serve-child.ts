// A service of this CLI (`embpress serve store|ranker`) as a child process of a benchmark, on
// 127.0.0.1:0, resolved once it reports SERVING over IPC; its output is appended to a log file.
import { fork, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

// The product's own CLI (`embpress serve ...`), run as a user runs it: a process started from its
// path in the repository, not an import (the bench app does not depend on the cli app).
const MAIN = join(__dirname, '..', '..', 'cli', 'src', 'main.ts');

/** `embpress serve <name>` on 127.0.0.1:0; resolves with its port once it reports SERVING. */
export function serve(
  name: 'store' | 'ranker',
  env: Record<string, string>,
  execArgv: readonly string[],
  children: ChildProcess[],
  logFile: string,
): Promise<{ child: ChildProcess; port: number }> {
  const prefix = `EMBPRESS_${name.toUpperCase()}_`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  // The user's settings for this service must not change what is measured.
  for (const key of Object.keys(childEnv)) if (key.startsWith(prefix)) delete childEnv[key];
  Object.assign(childEnv, { [`${prefix}HOST`]: '127.0.0.1', [`${prefix}PORT`]: '0' }, env);
  const child = fork(MAIN, ['serve', name], {
    execArgv: [...execArgv],
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    appendFileSync(logFile, chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready within 60 s:\n${output}`)),
      60_000,
    );
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolve({ child, port: message.port });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
