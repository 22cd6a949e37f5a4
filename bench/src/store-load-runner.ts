// The load generator of `embpress bench store` (store-load.ts) forked as its own process, and
// the CPU of the client, the server and the rest of the machine sampled over each phase's
// measured windows.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { LoadConfig, LoadMessage, PhaseResult, RowCheck } from './store-load';
import { cpuSeconds, machineBusySeconds } from './store-proc';
import type { Cores } from './store-report';

const LOAD_GENERATOR = join(__dirname, 'store-load.ts');

interface CpuSample {
  at: number;
  server: number;
  client: number;
  machine: number;
}

export function runLoadGenerator(
  config: LoadConfig,
  execArgv: string[],
  serverPid: (phase: string) => number,
  children: ChildProcess[],
  log: (line: string) => void,
) {
  const child = fork(LOAD_GENERATOR, [], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  // CPU over the measured windows of each phase, read from /proc at the window's start and end
  // messages: the server's, the load generator's, and the whole machine's (the rest of which is
  // other work competing for the cores).
  const sample = (phase: string): CpuSample => ({
    at: performance.now(),
    server: cpuSeconds(serverPid(phase)),
    client: cpuSeconds(child.pid as number),
    machine: machineBusySeconds(),
  });
  const sums = new Map<string, CpuSample>();
  const opened = new Map<string, CpuSample>();
  const result = new Promise<{ phases: PhaseResult[]; check: RowCheck }>((resolve, reject) => {
    let outcome: LoadMessage | undefined;
    child.on('message', (message: LoadMessage) => {
      if (message.type === 'progress') log(message.line);
      else if (message.type === 'window') {
        const now = sample(message.name);
        const start = opened.get(message.name);
        if (message.event === 'start') opened.set(message.name, now);
        else if (start !== undefined) {
          const sum = sums.get(message.name) ?? { at: 0, server: 0, client: 0, machine: 0 };
          sum.at += (now.at - start.at) / 1000;
          sum.server += now.server - start.server;
          sum.client += now.client - start.client;
          sum.machine += now.machine - start.machine;
          sums.set(message.name, sum);
        }
      } else outcome = message;
    });
    // Settled once the child has exited (so that its CPU profile, if asked for, is written).
    child.once('exit', (code, signal) => {
      if (outcome?.type === 'result' && outcome.check !== undefined)
        resolve({ phases: outcome.phases, check: outcome.check });
      else if (outcome?.type === 'error') reject(new Error(`load generator: ${outcome.message}`));
      else reject(new Error(`load generator exited (${code ?? signal}) without a result`));
    });
  });
  child.send({ type: 'run', config });
  const cores = (phase: string): Cores => {
    const sum = sums.get(phase);
    if (sum === undefined || sum.at === 0) throw new Error(`no measured window for ${phase}`);
    return {
      client: sum.client / sum.at,
      server: sum.server / sum.at,
      other: Math.max(0, sum.machine - sum.client - sum.server) / sum.at,
    };
  };
  return { result, cores };
}
