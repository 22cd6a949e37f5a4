// One unary gRPC call as a promise, always with a deadline: the one wrapper of grpc-js's callback
// API for unary calls (the store client, the load-test driver, benches, probes and specs use it).
import { Metadata, type ServiceError } from '@grpc/grpc-js';

/**
 * A unary method of a grpc-js client in its 4-argument form, e.g. `client.lookup` of a generated
 * client (unbound: unaryCall calls it on the client). The callback's response is optional as in
 * grpc-js's own UnaryCallback (`makeUnaryRequest`); it is there whenever the error is null.
 */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: Res) => void,
) => unknown;

/** The call's deadline, absolute (ms since epoch) or relative to now, and its metadata. */
export type UnaryCallOptions = { metadata?: Metadata } & (
  | { deadline: number; timeoutMs?: never }
  | { timeoutMs: number; deadline?: never }
);

/**
 * Calls `method` on `client` (`method.call(client, ...)`, so an unbound prototype method works);
 * resolves with the response, rejects with the call's ServiceError (DEADLINE_EXCEEDED once the
 * deadline has passed).
 */
export function unaryCall<Req, Res>(
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: UnaryCallOptions,
): Promise<Res> {
  const deadline =
    options.deadline !== undefined ? options.deadline : Date.now() + options.timeoutMs;
  return new Promise<Res>((resolve, reject) => {
    method.call(client, request, options.metadata ?? new Metadata(), { deadline }, (err, res) =>
      err ? reject(err) : resolve(res as Res),
    );
  });
}
