import type { store } from '@embpress/proto';
import { requireName, type UnaryHandler } from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { toServiceError } from '../domain/errors';
import type { ModelVersions } from '../domain/model-versions';
import { requireAdmin } from './admin-auth';
import { tableInfos } from './table-info';

export function loadVersionHandler(
  config: StoreConfig,
  versions: ModelVersions,
): UnaryHandler<store.LoadVersionRequest, store.LoadVersionResponse> {
  return async (request, ctx) => {
    requireAdmin(ctx.metadata, config.adminToken);
    requireName('model', request.model);
    requireName('version', request.version);
    try {
      const loaded = versions.load(request.model, request.version);
      ctx.logger.info(
        { model: request.model, version: request.version, tables: loaded.tables.size },
        'version loaded',
      );
      return {
        model: request.model,
        version: request.version,
        tables: tableInfos(loaded, versions.activeVersion(request.model) === request.version),
      };
    } catch (err) {
      ctx.logger.error({ err, model: request.model, version: request.version }, 'version refused');
      throw toServiceError(err, `${request.model}/${request.version}`);
    }
  };
}

export function activateVersionHandler(
  config: StoreConfig,
  versions: ModelVersions,
): UnaryHandler<store.ActivateVersionRequest, store.ActivateVersionResponse> {
  return async (request, ctx) => {
    requireAdmin(ctx.metadata, config.adminToken);
    requireName('model', request.model);
    requireName('version', request.version);
    try {
      const previous = versions.activate(request.model, request.version);
      ctx.logger.info(
        { model: request.model, version: request.version, previous },
        'version activated',
      );
      return { model: request.model, version: request.version, previousVersion: previous ?? '' };
    } catch (err) {
      throw toServiceError(err, `${request.model}/${request.version}`);
    }
  };
}
