// CPU seconds of the processes of `embpress bench ranker` (a ranker with workers counted with
// its worker processes) and of the whole machine, from /proc.
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system) of a process and its live children (a ranker with workers is a
 * cluster primary and its worker processes), from /proc/<pid>/stat.
 */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime, stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    return own + childrenOf(pid).reduce((sum, child) => sum + cpuSeconds(child), 0);
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .split(' ')
        .filter((p) => p.trim() !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** CPU seconds the machine has been busy (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, ...fields] = line.trim().split(/\s+/).map(Number);
  return (
    fields.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0) / CLOCK_TICKS
  );
}
