import { Metadata, status } from '@grpc/grpc-js';
import {
  DataLossError,
  fromUpstream,
  InvalidArgumentError,
  NotFoundError,
  toStatus,
  UnavailableError,
} from './errors';

const upstream = (code: status, details: string) =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe('toStatus', () => {
  it('maps typed errors to their status with their message', () => {
    expect(toStatus(new InvalidArgumentError('ids', 'must not be empty'))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'ids: must not be empty',
    });
    expect(toStatus(new NotFoundError('table "x"'))).toEqual({
      code: status.NOT_FOUND,
      details: 'table "x"',
    });
    expect(toStatus(new DataLossError('checksum')).code).toBe(status.DATA_LOSS);
  });

  it('hides anything else behind INTERNAL and keeps the cause for the log', () => {
    const cause = new TypeError('secret /path/x');
    expect(toStatus(cause)).toEqual({
      code: status.INTERNAL,
      details: 'internal error',
      internal: cause,
    });
  });
});

describe('fromUpstream', () => {
  it('passes on retryable and lookup failures with context', () => {
    const mapped = fromUpstream(upstream(status.UNAVAILABLE, 'connect failed'), 'store Lookup');
    expect(mapped).toBeInstanceOf(UnavailableError);
    expect((mapped as Error).message).toBe('store Lookup: connect failed');
    expect(fromUpstream(upstream(status.NOT_FOUND, 'no model'), 'store')).toBeInstanceOf(
      NotFoundError,
    );
  });

  it('treats a dependency rejecting our request as our own bug (INTERNAL)', () => {
    const err = upstream(status.INVALID_ARGUMENT, 'ids: bad');
    expect(toStatus(fromUpstream(err, 'store')).code).toBe(status.INTERNAL);
  });
});
