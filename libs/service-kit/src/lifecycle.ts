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

/** Exit status of a process stopped by an error nothing handled (EX_SOFTWARE of sysexits.h). */
export const FATAL_EXIT_CODE = 70;

/**
 * The policy for an error nothing handled (an uncaught exception, or a rejected promise nobody
 * awaited): log it, report NOT_SERVING, exit FATAL_EXIT_CODE so that a supervisor (serve all,
 * Kubernetes, systemd) restarts the process. A process in an unknown state must not keep serving,
 * and it must not look like a clean stop either. Prepended, so it runs before any listener a
 * dependency added (the tfjs wasm module installs one that rethrows, which exits with code 7).
 */
export function exitOnFatalError(
  logger: Logger,
  notServing: () => void,
  exit: (code: number) => void = process.exit,
): void {
  const onFatal = (err: unknown, origin: string) => {
    try {
      logger.fatal(
        { err, origin },
        'fatal error; exiting so that a supervisor restarts this process',
      );
      notServing();
      logger.flush();
    } finally {
      exit(FATAL_EXIT_CODE);
    }
  };
  process.prependListener('uncaughtException', onFatal);
}
