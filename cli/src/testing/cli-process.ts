// Test helper: runs the real `embpress` CLI in a child process (tsx, like bin/embpress), with
// an IPC channel so a `serve` child reports when it is SERVING and on which port.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@embpress/service-kit/node-flags';

const MAIN = join(__dirname, '..', 'main.ts');

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { detached?: boolean } = {},
): CliProcess {
  const child = fork(MAIN, args, {
    execArgv: [...SERVICE_NODE_FLAGS, '--require', 'tsx/cjs'],
    env: { ...process.env, EMBPRESS_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: options.detached ?? false,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Resolves with the port of a `serve <name>` child once it reports ready. */
export function readyPort(cli: CliProcess, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready in ${timeoutMs} ms:\n${cli.stdout()}\n${cli.stderr()}`)),
      timeoutMs,
    );
    cli.child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    void cli.exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${cli.stdout()}\n${cli.stderr()}`));
    });
  });
}

/** Resolves once `predicate` holds for the child's stdout. */
export function waitForOutput(
  cli: CliProcess,
  predicate: (stdout: string) => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (predicate(cli.stdout())) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for output:\n${cli.stdout()}\n${cli.stderr()}`));
      }
    }, 50);
  });
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a CLI child that is still running: SIGTERM, then SIGKILL after 10 s; waits for its exit. */
export async function stopCli(proc: CliProcess | undefined): Promise<void> {
  if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exit;
  clearTimeout(timer);
}

/**
 * A store and a ranker serving `registryRoot`, as two `embpress serve` children on 127.0.0.1:0
 * (spans to `spansFile`, never the default under the working directory). Stop both with stopCli.
 */
export async function serveStoreAndRanker(
  registryRoot: string,
  spansFile: string,
  rankerEnv: NodeJS.ProcessEnv = {},
): Promise<{ store: CliProcess; ranker: CliProcess; rankerPort: number }> {
  const common = { EMBPRESS_SPANS_FILE: spansFile, EMBPRESS_LOG_LEVEL: 'warn' };
  const store = runCli(['serve', 'store'], {
    ...common,
    EMBPRESS_STORE_PORT: '0',
    EMBPRESS_STORE_REGISTRY_ROOT: registryRoot,
  });
  let ranker: CliProcess | undefined;
  try {
    const storePort = await readyPort(store, 60_000);
    ranker = runCli(['serve', 'ranker'], {
      ...common,
      EMBPRESS_RANKER_PORT: '0',
      EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${storePort}`,
      EMBPRESS_RANKER_REGISTRY_ROOT: registryRoot,
      ...rankerEnv,
    });
    return { store, ranker, rankerPort: await readyPort(ranker, 60_000) };
  } catch (err) {
    // Neither child outlives a failed start (the caller has no handle to stop them).
    await Promise.all([stopCli(ranker), stopCli(store)]);
    throw err;
  }
}
