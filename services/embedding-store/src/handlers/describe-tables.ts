import type { store } from '@embpress/proto';
import { NotFoundError, optionalName, type UnaryHandler } from '@embpress/service-kit';
import type { ModelVersions } from '../domain/model-versions';
import { tableInfos } from './table-info';

export function describeTablesHandler(
  versions: ModelVersions,
): UnaryHandler<store.DescribeTablesRequest, store.DescribeTablesResponse> {
  return async (request) => {
    const model = optionalName('model', request.model);
    const loaded = versions.list(model);
    if (model !== undefined && loaded.length === 0)
      throw new NotFoundError(`model "${model}" has no loaded version`);
    return { tables: loaded.flatMap(({ loaded: l, active }) => tableInfos(l, active)) };
  };
}
