import { timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { UnauthenticatedError } from '@embpress/service-kit';

/** Admin RPCs need `authorization: Bearer <token>` when the store has an admin token. */
export function requireAdmin(metadata: Metadata, token: string | undefined): void {
  if (token === undefined) return;
  const header = metadata.get('authorization')[0];
  const presented =
    typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new UnauthenticatedError(
      'admin RPC: missing or wrong bearer token in the authorization metadata',
    );
  }
}
