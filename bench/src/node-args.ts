// How a benchmark starts a node process of ours, as bin/embpress does: TypeScript through tsx,
// and for a service or a load generator (a client service, as the ranker is of the store) the
// services' heap flags too (docs/adr/0020).
import { SERVICE_NODE_FLAGS } from '@embpress/service-kit/node-flags';

export const TSX_ARGS: readonly string[] = ['--require', require.resolve('tsx/cjs')];

export const SERVICE_ARGS: readonly string[] = [...SERVICE_NODE_FLAGS, ...TSX_ARGS];
