// `embpress serve <name>`: config (every problem listed, exit 1) → telemetry → service → signals.
import {
  collectConfig,
  ConfigError,
  envWithConfigFile,
  flag,
  lazyRequire,
  logLevel,
  parseEnv,
  parseTelemetrySettings,
} from '@embpress/service-kit/config';
import { startTelemetry } from '@embpress/service-kit/telemetry';
import cluster from 'node:cluster';
import { ChildGroup, describeExit } from '@embpress/service-kit/child-group';
import { missingServiceNodeFlags } from '@embpress/service-kit/node-flags';
import { z } from 'zod';
import type { ServiceName } from './main';
import { SERVICES } from './services';

/** Message a child sends its `serve all` parent once it is SERVING. */
export interface ReadyMessage {
  type: 'ready';
  service: ServiceName;
  address: string;
  port: number;
}

/** Everything `serve` needs, parsed at once so that every problem is reported together. */
function loadSettings(name: ServiceName, configFile: string | undefined) {
  try {
    const env = envWithConfigFile(process.env, configFile);
    const [config, telemetrySettings, { LOG_LEVEL: level, SOURCE_MAPS: sourceMaps }] =
      collectConfig(
        () => SERVICES[name].loadConfig(env),
        () => parseTelemetrySettings(env),
        () =>
          parseEnv(z.object({ LOG_LEVEL: logLevel(), SOURCE_MAPS: flag(false) }), env, 'EMBPRESS'),
      );
    return { config, telemetrySettings, level, sourceMaps };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`embpress serve ${name}: ${err.message}\n`);
    process.exit(1);
  }
}

export async function serveOne(name: ServiceName, configFile: string | undefined): Promise<void> {
  const { config, telemetrySettings, level, sourceMaps } = loadSettings(name, configFile);
  // tsx turns on Node's source-map support, and Node then keeps the source map of every module it
  // loads (and, once a stack trace is formatted, its parsed mappings): tfjs's maps held ~120 MB of
  // the ranker's 160 MB heap, which every full GC walks. A service runs without them unless
  // EMBPRESS_SOURCE_MAPS=1 (stack traces then point into tsx's transpiled code: same files, lines
  // close by). Measured in docs/benchmarks.md, "The ranker's request path".
  if (!sourceMaps) process.setSourceMapsEnabled(false);
  const workers = SERVICES[name].workers(config);
  if (workers > 1 && cluster.isPrimary) {
    await serveWorkers(name, workers, level);
    return;
  }

  // Before anything loads @grpc/grpc-js: the instrumentation patches it on require.
  const telemetry = startTelemetry({ serviceName: `embpress-${name}`, ...telemetrySettings });
  const { createLogger, exitOnFatalError, stopOnSignals } =
    lazyRequire<typeof import('@embpress/service-kit')>('@embpress/service-kit');
  const logger = createLogger({ service: name, level });
  const missing = missingServiceNodeFlags();
  if (missing.length > 0)
    logger.warn(
      { missing },
      `node was started without ${missing.join(' ')}: expect more full garbage collections under load (docs/adr/0020; bin/embpress, npm start and the image set it)`,
    );
  let notServing = () => undefined as void;
  exitOnFatalError(logger, () => notServing());

  const running = await SERVICES[name].start(config, logger);
  notServing = () => running.notServing();
  stopOnSignals(async () => {
    await running.stop();
    await telemetry.shutdown();
  }, logger);
  if (process.send !== undefined) {
    const ready: ReadyMessage = {
      type: 'ready',
      service: name,
      address: running.address,
      port: running.port,
    };
    process.send(ready);
  }
}

/**
 * Several processes of one service sharing its port (Node cluster: the primary accepts each
 * connection and hands it to a worker in turn; gRPC clients keep a connection open, so each of
 * them stays with one worker). Every worker is a whole service: its own health, telemetry and
 * caches. The primary only supervises, as `serve all` does (one ChildGroup): it is ready once
 * every worker is, forwards SIGTERM/SIGINT and exits 0 when all of them stopped cleanly; a worker
 * that exits on its own stops the others and the primary exits 1, naming it.
 */
async function serveWorkers(
  name: ServiceName,
  workers: number,
  level: ReturnType<typeof loadSettings>['level'],
): Promise<void> {
  const { createLogger, exitOnFatalError } =
    lazyRequire<typeof import('@embpress/service-kit')>('@embpress/service-kit');
  const logger = createLogger({ service: name, level });
  exitOnFatalError(logger, () => undefined);
  const group = new ChildGroup({
    exitedOnItsOwn: (worker, exit) =>
      logger.error(
        { worker, ...exit },
        `${worker} exited on its own (${describeExit(exit)}); stopping the others`,
      ),
    stopped: (failed, children) => {
      logger.info(
        { workers: children, clean: failed.length === 0, failed },
        `${name} workers stopped`,
      );
      logger.flush();
    },
  });
  group.stopOnSignals();
  const ready: ReadyMessage[] = [];
  // Workers run with this process's flags, plus the services' heap flags if it lacks them.
  cluster.setupPrimary({ execArgv: [...missingServiceNodeFlags(), ...process.execArgv] });
  await new Promise<void>((resolve) => {
    for (let i = 0; i < workers; i += 1) {
      const worker = cluster.fork();
      void group.add(`${name} worker ${worker.id}`, worker.process);
      worker.on('message', (message: ReadyMessage) => {
        if (message.type !== 'ready') return;
        ready.push(message);
        if (ready.length === workers) resolve();
      });
    }
  });
  const first = ready[0] as ReadyMessage;
  logger.info({ address: first.address, workers }, `${name} SERVING with ${workers} workers`);
  process.send?.({ ...first, type: 'ready' } satisfies ReadyMessage);
}
