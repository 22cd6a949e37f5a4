import { spawn } from 'node:child_process';
import { ChildGroup, describeExit, type ChildExit } from './child-group';

// Real child processes: `node -e` that waits for SIGTERM (exits 0) or exits on its own.
const waitForTerm =
  "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000); console.log('ready');";
const child = (code: string) =>
  spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });

/** Resolves once the child has its SIGTERM handler (it printed "ready"): a loaded machine can
 * take longer than any fixed delay to start node. */
function ready(proc: ReturnType<typeof child>): Promise<void> {
  return new Promise((resolve) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    });
  });
}

function group() {
  const events: string[] = [];
  let exitCode: number | undefined;
  let exited!: () => void;
  const done = new Promise<void>((resolve) => (exited = resolve));
  const g = new ChildGroup(
    {
      exitedOnItsOwn: (name, exit) =>
        events.push(`${name} exited on its own (${describeExit(exit)})`),
      stopped: (failed, n) => events.push(`stopped ${n}: [${failed.join('; ')}]`),
    },
    (code) => {
      exitCode = code;
      exited();
    },
  );
  return { g, events, done, code: () => exitCode };
}

describe('ChildGroup', () => {
  it('a stop ends every child and exits with the code asked for when all exited 0', async () => {
    const { g, events, done, code } = group();
    const [a, b] = [child(waitForTerm), child(waitForTerm)];
    const exits = [g.add('a', a), g.add('b', b)];
    await Promise.all([ready(a), ready(b)]);
    await g.stop(0);
    await done;
    expect(await Promise.all(exits)).toEqual<ChildExit[]>([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    expect(events).toEqual(['stopped 2: []']);
    expect(code()).toBe(0);
  });

  it('a child that exits on its own stops the others and the parent exits 1, naming it', async () => {
    const { g, events, done, code } = group();
    const store = child(waitForTerm);
    g.add('store', store);
    const killed = child(waitForTerm);
    g.add('ranker', killed);
    await Promise.all([ready(store), ready(killed)]);
    killed.kill('SIGKILL');
    await done;
    expect(events).toEqual([
      'ranker exited on its own (signal SIGKILL)',
      'stopped 2: [ranker (signal SIGKILL)]',
    ]);
    expect(code()).toBe(1);
  });

  it('a clean exit nobody asked for also counts as exiting on its own', async () => {
    const { g, events, done, code } = group();
    g.add('trainer', child('process.exit(0)'));
    await done;
    expect(events[0]).toBe('trainer exited on its own (exit code 0)');
    expect(code()).toBe(1);
  });
});
