// The load generator of `embpress bench ranker` (ranker-load.ts) forked as its own process, its
// progress, sampled requests and open-loop result received over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { OpenLoopResult } from '@embpress/loadtest';
import type { RankerLoadConfig, RankerLoadMessage, SampledRequest } from './ranker-load';

const LOAD_GENERATOR = join(__dirname, 'ranker-load.ts');

/**
 * The load generator (ranker-load.ts) in its own process: the sampled requests, then the open
 * loop (`embpress experiment` drives every run's served model with it too).
 */
export function runLoad(
  config: RankerLoadConfig,
  execArgv: readonly string[],
  children: ChildProcess[],
  log: (line: string) => void,
  onMeasureStart: () => void,
): Promise<{
  sample: SampledRequest[];
  result: OpenLoopResult;
  firstErrors: Record<string, string>;
  pid: number | undefined;
}> {
  const child = fork(LOAD_GENERATOR, [], {
    execArgv: [...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let sample: SampledRequest[] | undefined;
    child.on('message', (message: RankerLoadMessage) => {
      if (message.type === 'progress') log(message.line);
      else if (message.type === 'sample') {
        sample = message.requests;
        onMeasureStart();
      } else if (message.type === 'failed') reject(new Error(`load generator: ${message.message}`));
      else if (message.type === 'done')
        resolve({
          sample: sample ?? [],
          result: message.result,
          firstErrors: message.firstErrors,
          pid: child.pid,
        });
    });
    child.once('exit', (code) => {
      if (sample === undefined || code !== 0)
        reject(new Error(`the load generator exited (${code}) before reporting`));
    });
    child.send(config);
  });
}
