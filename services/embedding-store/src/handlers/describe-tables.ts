import type { store } from '@embpress/proto';
import { optionalName, type UnaryHandler } from '@embpress/service-kit';
import { registryNotYet } from './not-yet';

export function describeTablesHandler(): UnaryHandler<
  store.DescribeTablesRequest,
  store.DescribeTablesResponse
> {
  return async (request) => {
    optionalName('model', request.model);
    throw registryNotYet('DescribeTables');
  };
}
