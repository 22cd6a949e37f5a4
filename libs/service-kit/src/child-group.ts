// Supervision of the child processes that make up one whole: the four services of
// `embpress serve all`, the workers of one clustered service. SIGTERM/SIGINT stop every child
// gracefully and the parent exits 0 when all of them exited 0. A child that exits on its own (a
// crash, a kill -9, even a clean exit nobody asked for) stops the others and the parent exits 1,
// with the child named, so whatever supervises the parent never mistakes it for a clean stop.
import type { ChildProcess } from 'node:child_process';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export const describeExit = ({ code, signal }: ChildExit): string =>
  signal !== null ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`;

export interface ChildGroupEvents {
  /** `child` exited while nobody was stopping the group; the others are being stopped. */
  exitedOnItsOwn(child: string, exit: ChildExit): void;
  /** Every child has exited after a stop; `failed` names each that did not exit 0, and how. */
  stopped(failed: string[], children: number): void;
}

interface Member {
  name: string;
  process: Pick<ChildProcess, 'kill'>;
  exited: Promise<ChildExit>;
}

export class ChildGroup {
  private readonly members: Member[] = [];
  private stopping = false;

  constructor(
    private readonly events: ChildGroupEvents,
    private readonly exitProcess: (code: number) => void = (code) => process.exit(code),
  ) {}

  /** Stops the group (and then exits 0 when every child did) on SIGTERM and SIGINT. */
  stopOnSignals(): void {
    process.on('SIGTERM', () => void this.stop(0));
    process.on('SIGINT', () => void this.stop(0));
  }

  /** Supervises `child` from now on; the promise resolves when it exits, for whatever reason. */
  add(name: string, child: ChildProcess): Promise<ChildExit> {
    const exited = new Promise<ChildExit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.members.push({ name, process: child, exited });
    void exited.then((exit) => {
      if (this.stopping) return;
      this.events.exitedOnItsOwn(name, exit);
      void this.stop(1);
    });
    return exited;
  }

  /** SIGTERM to every child, then exit with `code` if all exited 0, else 1. Once only. */
  async stop(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const member of this.members) member.process.kill('SIGTERM');
    const exits = await Promise.all(this.members.map((member) => member.exited));
    const failed = this.members
      .map((member, i) => ({ name: member.name, exit: exits[i] as ChildExit }))
      .filter(({ exit }) => exit.code !== 0)
      .map(({ name, exit }) => `${name} (${describeExit(exit)})`);
    this.events.stopped(failed, this.members.length);
    this.exitProcess(failed.length === 0 ? code : 1);
  }
}
