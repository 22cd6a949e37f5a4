// Malformed requests get INVALID_ARGUMENT, not the statuses grpc-js picks for them. grpc-js
// answers a bad `grpc-timeout` header with INTERNAL (a server fault, which alerts an operator)
// and a stream that ends before its message is complete with UNIMPLEMENTED (which tells the
// caller the method does not exist). Both are the caller's mistake. grpc-js rejects the timeout
// inside its own call object, before any interceptor runs, so the header is checked one step
// earlier, on the HTTP/2 stream, and handed to the interceptor below as a marker header.
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http2';

/** Set on a request whose grpc-timeout was malformed (the original value; the header dropped). */
export const INVALID_TIMEOUT_HEADER = 'embpress-invalid-grpc-timeout';

/** The gRPC over HTTP/2 spec: 1 to 8 ASCII digits and one unit (H M S m u n), nothing else. */
const GRPC_TIMEOUT = /^\d{1,8}[HMSmun]$/;

/** What grpc-js 1.14 says when the request stream ended without a complete message. */
const NO_MESSAGE = 'Received no request message';

interface StreamEmitter {
  prependListener(
    event: 'stream',
    listener: (stream: unknown, headers: IncomingHttpHeaders) => void,
  ): unknown;
}

/**
 * Runs before grpc-js sees a new stream: a malformed grpc-timeout is removed (so grpc-js does not
 * answer INTERNAL) and kept under INVALID_TIMEOUT_HEADER for `strictRequests` to refuse.
 */
export function flagInvalidTimeouts(http2Server: StreamEmitter): void {
  http2Server.prependListener('stream', (_stream, headers) => {
    const raw = headers['grpc-timeout'];
    if (raw === undefined) return;
    const timeout = Array.isArray(raw) ? raw.join(',') : raw;
    if (GRPC_TIMEOUT.test(timeout)) return;
    delete headers['grpc-timeout'];
    headers[INVALID_TIMEOUT_HEADER] = timeout.slice(0, 64);
  });
}

/** The server interceptor: refuses flagged timeouts, renames grpc-js's "no message" status. */
export const strictRequests: ServerInterceptor = (_method, next) => {
  const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
    start: (startNext) =>
      startNext({
        onReceiveMetadata: (metadata: Metadata, metadataNext) => {
          const [timeout] = metadata.get(INVALID_TIMEOUT_HEADER);
          if (timeout === undefined) {
            metadataNext(metadata);
            return;
          }
          call.sendStatus({
            code: status.INVALID_ARGUMENT,
            details: `grpc-timeout: ${JSON.stringify(String(timeout))} is not a timeout (1 to 8 digits and a unit H, M, S, m, u or n)`,
          });
        },
      }),
    sendStatus: (sent, statusNext) => {
      if (sent.code === status.UNIMPLEMENTED && sent.details?.startsWith(NO_MESSAGE) === true) {
        statusNext({
          ...sent,
          code: status.INVALID_ARGUMENT,
          details: 'request: the stream ended before a complete request message (truncated body)',
        });
        return;
      }
      statusNext(sent);
    },
  });
  return call;
};
