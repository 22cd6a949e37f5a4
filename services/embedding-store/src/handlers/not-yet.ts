import { UnimplementedError } from '@embpress/service-kit';

/** The table registry, lookups and search are the embedding-store issue's work (#5). */
export function registryNotYet(rpc: string): UnimplementedError {
  return new UnimplementedError(
    `${rpc}: the store's table registry (loading model versions, lookups, search) is not built yet (embedding-store issue #5)`,
  );
}
