// Domain failures of the store → the service kit's typed errors (and so to gRPC statuses).
import { ArtifactError, IdOutOfRangeError } from '@embpress/compression';
import { ModelVersionError } from '@embpress/model-registry';
import {
  DataLossError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '@embpress/service-kit';
import { UnknownModelError } from './model-versions';

/** Maps errors of loading/serving a version; `what` names the model/version/table concerned. */
export function toServiceError(err: unknown, what: string): unknown {
  if (err instanceof ModelVersionError) {
    switch (err.problem) {
      case 'not-found':
        return new NotFoundError(err.message);
      case 'invalid-name':
        return new InvalidArgumentError('model', err.message);
      case 'exists':
        return new FailedPreconditionError(err.message);
      case 'corrupt':
        return new DataLossError(err.message);
    }
  }
  if (err instanceof ArtifactError) return new DataLossError(`${what}: ${err.message}`);
  if (err instanceof UnknownModelError) return new NotFoundError(err.message);
  return err;
}

/** An id out of a table's range, named by the request field it came from. */
export function idError(err: unknown, field: string, table: string): unknown {
  if (err instanceof IdOutOfRangeError) {
    return new InvalidArgumentError(
      `${field}[${err.index}]`,
      `id ${err.id} is out of range for table "${table}" (rows [0, ${err.rows}))`,
    );
  }
  return err;
}
