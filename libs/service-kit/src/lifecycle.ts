// Process lifecycle of a composition root: the first SIGTERM/SIGINT starts a graceful stop and
// the process exits 0 when it is done (1 if stopping failed); later signals are logged only, so
// Ctrl-C in a terminal (which signals the whole process group) never cuts a drain short.
import type { Logger } from './logger';

export function stopOnSignals(
  stop: () => Promise<void>,
  logger: Logger,
  exit: (code: number) => void = process.exit,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.info({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    stop().then(
      () => {
        logger.info('stopped cleanly');
        logger.flush();
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        logger.flush();
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
