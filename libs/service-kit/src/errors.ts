// Typed errors of the domain, and the one place where they become gRPC statuses.
// Handlers throw these; the server wrapper maps them. Anything else is INTERNAL: logged with its
// cause, while the client only sees a generic message (never a stack or a path).
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

export abstract class EmbpressError extends Error {
  abstract readonly code: status;
}

/** A request field is missing or invalid. `field` is the request path (e.g. `tables[2].ids`). */
export class InvalidArgumentError extends EmbpressError {
  override readonly name = 'InvalidArgumentError';
  readonly code = status.INVALID_ARGUMENT;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export class NotFoundError extends EmbpressError {
  override readonly name = 'NotFoundError';
  readonly code = status.NOT_FOUND;
}

export class AlreadyExistsError extends EmbpressError {
  override readonly name = 'AlreadyExistsError';
  readonly code = status.ALREADY_EXISTS;
}

export class FailedPreconditionError extends EmbpressError {
  override readonly name = 'FailedPreconditionError';
  readonly code = status.FAILED_PRECONDITION;
}

/** Stored data is corrupt or incomplete (checksum mismatch, truncated artifact). */
export class DataLossError extends EmbpressError {
  override readonly name = 'DataLossError';
  readonly code = status.DATA_LOSS;
}

/** Overload: the caller should back off or try another replica. */
export class ResourceExhaustedError extends EmbpressError {
  override readonly name = 'ResourceExhaustedError';
  readonly code = status.RESOURCE_EXHAUSTED;
}

export class UnavailableError extends EmbpressError {
  override readonly name = 'UnavailableError';
  readonly code = status.UNAVAILABLE;
}

export class DeadlineExceededError extends EmbpressError {
  override readonly name = 'DeadlineExceededError';
  readonly code = status.DEADLINE_EXCEEDED;
}

export class UnauthenticatedError extends EmbpressError {
  override readonly name = 'UnauthenticatedError';
  readonly code = status.UNAUTHENTICATED;
}

export class PermissionDeniedError extends EmbpressError {
  override readonly name = 'PermissionDeniedError';
  readonly code = status.PERMISSION_DENIED;
}

/** The RPC exists in the contract but its logic is not built yet; the message says which work brings it. */
export class UnimplementedError extends EmbpressError {
  override readonly name = 'UnimplementedError';
  readonly code = status.UNIMPLEMENTED;
}

/** A gRPC error received from another service (client side). */
/** A grpc-js ServiceError (status, details, empty metadata), message formatted as grpc-js does. */
export function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}

export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    (err as Partial<ServiceError>).metadata instanceof Metadata
  );
}

export interface MappedStatus {
  code: status;
  details: string;
  /** Set for INTERNAL: the original error, to be logged (never sent). */
  internal?: unknown;
}

/** The single mapping from anything a handler throws to the status the client receives. */
export function toStatus(err: unknown): MappedStatus {
  if (err instanceof EmbpressError) return { code: err.code, details: err.message };
  return { code: status.INTERNAL, details: 'internal error', internal: err };
}

/**
 * Turns an error from a call to another service into our typed error, so it reaches our own
 * caller with a meaningful status: the dependency's INVALID_ARGUMENT is OUR bug (INTERNAL),
 * while its NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and UNIMPLEMENTED
 * are passed on with `what` (e.g. "store DescribeTables") in front.
 */
export function fromUpstream(err: unknown, what: string): unknown {
  if (!isServiceError(err)) return err;
  const message = `${what}: ${err.details}`;
  switch (err.code) {
    case status.NOT_FOUND:
      return new NotFoundError(message);
    case status.UNAVAILABLE:
      return new UnavailableError(message);
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED:
      return new DeadlineExceededError(message);
    case status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(message);
    case status.DATA_LOSS:
      return new DataLossError(message);
    case status.UNIMPLEMENTED:
      return new UnimplementedError(message);
    default:
      return err;
  }
}
