import type { store } from '@embpress/proto';
import { requireName, type UnaryHandler } from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { requireAdmin } from './admin-auth';
import { registryNotYet } from './not-yet';

export function loadVersionHandler(
  config: StoreConfig,
): UnaryHandler<store.LoadVersionRequest, store.LoadVersionResponse> {
  return async (request, ctx) => {
    requireAdmin(ctx.metadata, config.adminToken);
    requireName('model', request.model);
    requireName('version', request.version);
    throw registryNotYet('LoadVersion');
  };
}

export function activateVersionHandler(
  config: StoreConfig,
): UnaryHandler<store.ActivateVersionRequest, store.ActivateVersionResponse> {
  return async (request, ctx) => {
    requireAdmin(ctx.metadata, config.adminToken);
    requireName('model', request.model);
    requireName('version', request.version);
    throw registryNotYet('ActivateVersion');
  };
}
