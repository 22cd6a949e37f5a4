// The two places ServiceHost (server.ts) reaches into grpc-js internals (grpc-js 1.14), kept here
// so that an upgrade that moves them fails loudly in one module: the HTTP/2 settings every new
// connection starts with, and the bound HTTP/2 servers (session windows, strict timeout headers).
import type { Server } from '@grpc/grpc-js';
import type { Http2Session, IncomingHttpHeaders } from 'node:http2';

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<
    {
      on(event: 'session', listener: (session: Http2Session) => void): void;
      prependListener(
        event: 'stream',
        listener: (stream: unknown, headers: IncomingHttpHeaders) => void,
      ): unknown;
    },
    unknown
  >;
}

/** Sets the initial stream window of every connection (grpc-js passes these to http2.createServer at bind time). */
export function setInitialWindowSize(server: Server, bytes: number): void {
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions === undefined)
    throw new Error('flowControlWindowBytes: this grpc-js version has no commonServerOptions');
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: bytes,
  };
}

/** grpc-js's bound HTTP/2 servers (after bind); `what` names the feature that needs them. */
export function http2ServersOf(server: Server, what: string) {
  const servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (servers === undefined) throw new Error(`${what}: this grpc-js version has no http2Servers`);
  return [...servers.keys()];
}
