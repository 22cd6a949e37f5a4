// `embpress serve all`: the four services on loopback, one child process each (as in a cluster,
// each has its own telemetry identity and can crash alone). The store starts first; the ranker
// and retriever get its actual address. SIGINT/SIGTERM stop every child gracefully; the parent
// exits 0 when all of them exited 0. A child that exits on its own (a crash, a kill -9, even a
// clean exit 0 nobody asked for) stops the others gracefully and the parent exits 1, naming the
// child and its exit code or signal, so a supervisor never mistakes it for a clean stop.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { ChildGroup, describeExit } from '@embpress/service-kit/child-group';
import { lazyRequire } from '@embpress/service-kit/config';
import { missingServiceNodeFlags } from '@embpress/service-kit/node-flags';
import type { ServiceName } from './main';
import type { ReadyMessage } from './serve-one';

const MAIN = require.resolve('./main');
const START_ORDER: readonly ServiceName[] = ['store', 'trainer', 'ranker', 'retriever'];

/** `serve all`'s own lines: as the services' (pretty on a terminal, JSON lines when piped). */
function log(message: string, fields: Record<string, unknown> = {}): void {
  lazyRequire<typeof import('@embpress/service-kit/logger')>('@embpress/service-kit/logger')
    .processLogger('all')
    .info(fields, message);
}

/** Forks `embpress serve NAME` into `group`; resolves once it says it is SERVING. */
function startChild(
  group: ChildGroup,
  name: ServiceName,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<ReadyMessage & { pid: number | undefined }> {
  const args = ['serve', name, ...(configFile === undefined ? [] : ['--config', configFile])];
  // This process's flags, and the services' heap flags where it was started without them.
  const execArgv = [...missingServiceNodeFlags(), ...process.execArgv];
  const child = fork(MAIN, args, { env, execArgv, stdio: 'inherit' });
  const exited = group.add(name, child);
  return new Promise((resolve, reject) => {
    child.on('message', (message: ReadyMessage) => {
      if (message.type === 'ready') resolve({ ...message, pid: child.pid });
    });
    void exited.then((exit) =>
      reject(new Error(`${name} exited (${describeExit(exit)}) before it was ready`)),
    );
  });
}

/**
 * With `demo`, first publishes the embedded default models into the registry (demo-models.ts;
 * skipped when they already have an active version), so the store restores and serves them.
 */
export async function serveAll(configFile: string | undefined, demo = false): Promise<void> {
  if (demo) {
    // The store's root as the store will read it: from --config FILE when it sets one.
    const { envWithConfigFile } = lazyRequire<typeof import('@embpress/service-kit/config')>(
      '@embpress/service-kit/config',
    );
    const root =
      envWithConfigFile(process.env, configFile).EMBPRESS_STORE_REGISTRY_ROOT ?? 'var/models';
    process.env.EMBPRESS_RANKER_REGISTRY_ROOT ??= root;
    process.env.EMBPRESS_RETRIEVER_REGISTRY_ROOT ??= root;
    const { ensureDemoModels } = lazyRequire<typeof import('./demo-models')>(
      require.resolve('./demo-models'),
    );
    await ensureDemoModels(root, join(dirname(root), 'demo'), (line) => log(line));
  }
  const group = new ChildGroup({
    exitedOnItsOwn: (name, exit) =>
      log(`${name} exited on its own (${describeExit(exit)}); stopping the others`, { ...exit }),
    stopped: (failed) =>
      log(failed.length === 0 ? 'all services stopped' : 'some services did not stop cleanly', {
        failed,
      }),
  });
  group.stopOnSignals();
  const env: NodeJS.ProcessEnv = { ...process.env };
  const started: Record<string, { address: string; pid: number | undefined }> = {};
  try {
    for (const name of START_ORDER) {
      const ready = await startChild(group, name, configFile, env);
      started[name] = { address: ready.address, pid: ready.pid };
      if (name === 'store') {
        // The clients of the store follow the port it actually bound (it may be 0 = any).
        env.EMBPRESS_RANKER_STORE_ADDRESS ??= `127.0.0.1:${ready.port}`;
        env.EMBPRESS_RETRIEVER_STORE_ADDRESS ??= `127.0.0.1:${ready.port}`;
      }
    }
  } catch (err) {
    log(`start failed: ${(err as Error).message}`);
    await group.stop(1);
    return;
  }
  log('all services SERVING', { services: started });
  if (demo)
    log('try', {
      rank: 'npx embpress loadtest ranker-rank --rate 20 --duration 10',
      retrieve: 'npx embpress loadtest retriever-retrieve --rate 20 --duration 10',
      lookup: 'npx embpress loadtest store-lookup --rate 200 --duration 10',
      traces: 'var/traces/spans.jsonl',
    });
}
