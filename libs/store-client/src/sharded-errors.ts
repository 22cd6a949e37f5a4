// The errors of the sharded client: ShardedStoreError (shaped like a gRPC ServiceError), a
// shard's own failure with the shard's name and address in front, and the client's refusals.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isServiceError } from '@embpress/service-kit';

/**
 * A failed sharded call, shaped like a gRPC ServiceError (code, details, metadata) so callers
 * handle it like any other store error (e.g. service-kit's fromUpstream). A shard's own error keeps
 * its status code and gets the shard's name and address in front of its details.
 */
export class ShardedStoreError extends Error implements ServiceError {
  override readonly name = 'ShardedStoreError';
  readonly metadata: Metadata;
  /** The shard that failed; undefined when the client refused the request itself. */
  readonly shard?: string;
  readonly address?: string;

  constructor(
    readonly code: status,
    readonly details: string,
    options: { shard?: string; address?: string; metadata?: Metadata; cause?: unknown } = {},
  ) {
    super(`${code} ${status[code]}: ${details}`, { cause: options.cause });
    this.metadata = options.metadata ?? new Metadata();
    this.shard = options.shard;
    this.address = options.address;
  }
}

export function shardFailure(err: unknown, shard: string, address: string): ShardedStoreError {
  const where = `shard "${shard}" (${address})`;
  if (isServiceError(err))
    return new ShardedStoreError(err.code, `${where}: ${err.details}`, {
      shard,
      address,
      metadata: err.metadata,
      cause: err,
    });
  return new ShardedStoreError(
    status.INTERNAL,
    `${where}: ${(err as Error).message ?? String(err)}`,
    {
      shard,
      address,
      cause: err,
    },
  );
}

export const invalid = (details: string) => new ShardedStoreError(status.INVALID_ARGUMENT, details);
