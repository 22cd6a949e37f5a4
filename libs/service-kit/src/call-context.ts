// The context of one call of ServiceHost (server.ts): what a handler knows besides the request.
import type { ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { deadlineMs } from './deadline';
import type { CallContext } from './handler-types';
import type { Logger } from './logger';

/**
 * The call's context. Its logger and abort signal are made on first use: most calls (a store
 * lookup) use neither, and a pino child, an AbortController, a 'cancelled' listener and a
 * deadline timer per call were ~15% of the store's CPU per lookup.
 */
export function callContext(
  path: string,
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  requestBytes: number,
  parentLogger: Logger,
  reserveBytes: (bytes: number) => void,
): { ctx: CallContext; dispose: () => number } {
  const deadline = deadlineMs(call.getDeadline());
  let heldBytes = requestBytes;
  let logger: Logger | undefined;
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;
  // grpc-js also reports a passed deadline as 'cancelled': name the deadline when it has passed.
  const abort = () =>
    controller?.abort(
      new Error(
        deadline !== undefined && Date.now() >= deadline
          ? 'deadline exceeded'
          : 'cancelled by the caller',
      ),
    );
  const ctx: CallContext = {
    path,
    deadline,
    metadata: call.metadata,
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController();
        if (call.cancelled || (deadline !== undefined && Date.now() >= deadline)) abort();
        else if (!disposed) {
          call.on('cancelled', abort);
          if (deadline !== undefined)
            timer = setTimeout(
              () => controller?.abort(new Error('deadline exceeded')),
              deadline - Date.now(),
            );
        }
      }
      return controller.signal;
    },
    get logger(): Logger {
      logger ??= parentLogger.child({ rpc: path });
      return logger;
    },
    reserveBytes: (bytes: number) => {
      reserveBytes(bytes);
      heldBytes += bytes;
    },
  };
  return {
    ctx,
    dispose: () => {
      disposed = true;
      if (controller !== undefined) {
        if (timer !== undefined) clearTimeout(timer);
        call.removeListener('cancelled', abort);
      }
      return heldBytes;
    },
  };
}
