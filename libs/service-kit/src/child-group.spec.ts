import { spawn } from 'node:child_process';
import { ChildGroup, describeExit, type ChildExit } from './child-group';

// Real child processes: `node -e` that waits for SIGTERM (exits 0) or exits on its own.
const waitForTerm = "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);";
const child = (code: string) => spawn(process.execPath, ['-e', code], { stdio: 'ignore' });

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
    const exits = [g.add('a', child(waitForTerm)), g.add('b', child(waitForTerm))];
    await new Promise((r) => setTimeout(r, 300));
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
    g.add('store', child(waitForTerm));
    const killed = child(waitForTerm);
    g.add('ranker', killed);
    await new Promise((r) => setTimeout(r, 300));
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
