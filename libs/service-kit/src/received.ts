// A request as ServiceHost's handlers receive it from the deserializer (server.ts): decoded, or
// refused with the reason, and its size for the in-flight byte bound.
import { EmbpressError, InvalidArgumentError } from './errors';
import type { CallContext, ServerStreamHandler, UnaryHandler } from './handler-types';

/**
 * A request as the deserializer hands it to the wrapped handlers: the decoded message, or why its
 * bytes are not one, and its size (counted against the in-flight byte bound while it is served).
 */
export class Received {
  constructor(
    readonly bytes: number,
    readonly message: unknown,
    readonly refusal: EmbpressError | undefined,
  ) {}
}

/**
 * grpc-js answers a throwing deserializer with INTERNAL (as if the server were broken); we catch
 * it and answer INVALID_ARGUMENT instead, or the typed error a hand-written decoder threw (e.g.
 * an id list over the limit).
 */
export function tolerantDeserializer(
  deserialize: (bytes: Buffer) => unknown,
): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return new Received(bytes.length, deserialize(bytes), undefined);
    } catch (err) {
      const refusal =
        err instanceof EmbpressError
          ? err
          : new InvalidArgumentError(
              'request',
              `is not a valid message of this method (${(err as Error).message})`,
            );
      return new Received(bytes.length, undefined, refusal);
    }
  };
}

export async function run(
  handler: UnaryHandler<unknown, unknown>,
  request: Received,
  ctx: CallContext,
): Promise<unknown> {
  if (request.refusal !== undefined) throw request.refusal;
  return handler(request.message, ctx);
}

export async function runStream(
  handler: ServerStreamHandler<unknown, unknown>,
  request: Received,
  ctx: CallContext,
  send: (r: unknown) => void,
): Promise<void> {
  if (request.refusal !== undefined) throw request.refusal;
  return handler(request.message, ctx, send);
}
