// A gRPC client without grpc-js: one HTTP/2 request with headers and body bytes exactly as the
// test writes them. Hostile-client tests use it to send what no well-behaved client library
// would (corrupt compressed frames, bad grpc-timeout values, truncated bodies, lying length
// prefixes) and read the status the server answers.
import { connect, constants, type ClientHttp2Session } from 'node:http2';

export interface RawGrpcReply {
  /** HTTP/2 :status of the response headers (undefined when the stream was reset first). */
  httpStatus: number | undefined;
  /** grpc-status from the trailers (or a trailers-only response); undefined when absent. */
  grpcStatus: number | undefined;
  grpcMessage: string;
  /** Response body bytes (length-prefixed messages), concatenated. */
  body: Buffer;
  /** Set when the stream ended without a grpc-status (reset, connection closed). */
  streamError?: string;
}

export interface RawGrpcRequest {
  /** `/package.Service/Method`. */
  path: string;
  /** The request body exactly as sent (use `grpcFrame` for well-formed framing). */
  body: Buffer;
  /** Extra request headers (e.g. `grpc-encoding: gzip`, `grpc-timeout: 1x`). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A length-prefixed gRPC message: flag byte (1 = compressed), 4-byte big-endian length, body. */
export function grpcFrame(message: Buffer, compressed = false, declaredLength?: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(declaredLength ?? message.length, 1);
  return Buffer.concat([header, message]);
}

/**
 * The 13-byte message that crashed every service on @grpc/grpc-js 1.14.3: the compressed flag
 * set and 8 bytes that are neither gzip nor deflate. Sent with `grpc-encoding: gzip|deflate`.
 */
export const CORRUPT_COMPRESSED_MESSAGE = grpcFrame(Buffer.from('notgzip!'), true);

/** Opens one HTTP/2 connection; close it with `session.close()`. */
export function rawSession(address: string): ClientHttp2Session {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined); // a reset connection is reported per request
  return session;
}

/** Sends one request on `session` and resolves with what came back (never rejects). */
export function rawGrpcCall(
  session: ClientHttp2Session,
  request: RawGrpcRequest,
): Promise<RawGrpcReply> {
  return new Promise((resolve) => {
    const reply: RawGrpcReply = {
      httpStatus: undefined,
      grpcStatus: undefined,
      grpcMessage: '',
      body: Buffer.alloc(0),
    };
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (streamError?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reply.body = Buffer.concat(chunks);
      if (reply.grpcStatus === undefined && streamError !== undefined)
        reply.streamError = streamError;
      resolve(reply);
    };
    const timer = setTimeout(() => {
      stream.close(constants.NGHTTP2_CANCEL);
      finish(`no answer in ${request.timeoutMs ?? 10_000} ms`);
    }, request.timeoutMs ?? 10_000);
    const readStatus = (headers: Record<string, unknown>) => {
      const code = headers['grpc-status'];
      if (code !== undefined) reply.grpcStatus = Number(code);
      const message = headers['grpc-message'];
      if (typeof message === 'string') reply.grpcMessage = decodeURIComponent(message);
    };
    const stream = session.request({
      ':method': 'POST',
      ':path': request.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...request.headers,
    });
    stream.on('response', (headers) => {
      reply.httpStatus = Number(headers[':status']);
      readStatus(headers);
    });
    stream.on('trailers', (trailers) => readStatus(trailers));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => finish(err.message));
    stream.on('close', () => finish(`stream closed (code ${stream.rstCode})`));
    stream.end(request.body);
  });
}

/** One request on a connection of its own. */
export async function rawGrpc(address: string, request: RawGrpcRequest): Promise<RawGrpcReply> {
  const session = rawSession(address);
  try {
    return await rawGrpcCall(session, request);
  } finally {
    session.close();
  }
}
