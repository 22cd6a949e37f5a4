// `embpress serve <name>`: config (every problem listed, exit 1) → telemetry → service → signals.
import {
  collectConfig,
  ConfigError,
  envWithConfigFile,
  logLevel,
  parseEnv,
  parseTelemetrySettings,
} from '@embpress/service-kit/config';
import { startTelemetry } from '@embpress/service-kit/telemetry';
import { z } from 'zod';
import type { ServiceName } from './main';
import { lazyRequire } from './lazy';
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
    const [config, telemetrySettings, { LOG_LEVEL: level }] = collectConfig(
      () => SERVICES[name].loadConfig(env),
      () => parseTelemetrySettings(env),
      () => parseEnv(z.object({ LOG_LEVEL: logLevel() }), env, 'EMBPRESS'),
    );
    return { config, telemetrySettings, level };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`embpress serve ${name}: ${err.message}\n`);
    process.exit(1);
  }
}

export async function serveOne(name: ServiceName, configFile: string | undefined): Promise<void> {
  const { config, telemetrySettings, level } = loadSettings(name, configFile);

  // Before anything loads @grpc/grpc-js: the instrumentation patches it on require.
  const telemetry = startTelemetry({ serviceName: `embpress-${name}`, ...telemetrySettings });
  const { createLogger, exitOnFatalError, stopOnSignals } =
    lazyRequire<typeof import('@embpress/service-kit')>('@embpress/service-kit');
  const logger = createLogger({ service: name, level });
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
