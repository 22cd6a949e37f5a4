// The hostile-client probes every service must survive, in one place (docs/adr/0012): each is a
// request no client library sends, the statuses a correct server may answer, and afterwards the
// server must still answer a health check. Integration tests run them against real processes.
import { status } from '@grpc/grpc-js';
import {
  CORRUPT_COMPRESSED_MESSAGE,
  grpcFrame,
  rawGrpcCall,
  rawSession,
  type RawGrpcReply,
  type RawGrpcRequest,
} from './raw-grpc';

export interface HostileProbe {
  name: string;
  request: RawGrpcRequest;
  /** Statuses a correct server may answer (never OK for a malformed request, never a crash). */
  allowed: readonly status[];
}

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

/** The probes for one unary method of a service (plus the health service itself). */
export function hostileProbes(method: string): HostileProbe[] {
  const probes: HostileProbe[] = [];
  for (const path of [HEALTH_CHECK, method]) {
    for (const encoding of ['gzip', 'deflate']) {
      probes.push({
        name: `13-byte corrupt ${encoding} message to ${path}`,
        request: { path, body: CORRUPT_COMPRESSED_MESSAGE, headers: { 'grpc-encoding': encoding } },
        allowed: [status.INTERNAL, status.INVALID_ARGUMENT],
      });
      probes.push({
        name: `empty compressed ${encoding} frame to ${path}`,
        request: {
          path,
          body: grpcFrame(Buffer.alloc(0), true),
          headers: { 'grpc-encoding': encoding },
        },
        allowed: [status.INTERNAL, status.INVALID_ARGUMENT],
      });
    }
  }
  probes.push(
    {
      name: 'unknown compression',
      request: {
        path: method,
        body: grpcFrame(Buffer.from([1]), true),
        headers: { 'grpc-encoding': 'br' },
      },
      allowed: [status.UNIMPLEMENTED, status.INVALID_ARGUMENT],
    },
    {
      name: 'malformed grpc-timeout',
      request: {
        path: method,
        body: grpcFrame(Buffer.alloc(0)),
        headers: { 'grpc-timeout': '1x' },
      },
      allowed: [status.INVALID_ARGUMENT],
    },
    {
      name: 'truncated body (length prefix says 100, 3 bytes follow)',
      request: { path: method, body: grpcFrame(Buffer.from([10, 1, 97]), false, 100) },
      allowed: [status.INVALID_ARGUMENT],
    },
    {
      name: 'length prefix of 2 GiB',
      request: { path: method, body: grpcFrame(Buffer.alloc(16), false, 0x7fffffff) },
      allowed: [status.RESOURCE_EXHAUSTED],
    },
    {
      name: 'garbage message bytes',
      request: { path: method, body: grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b])) },
      allowed: [status.INVALID_ARGUMENT],
    },
    {
      name: 'unknown method',
      request: { path: `${method}DoesNotExist`, body: grpcFrame(Buffer.alloc(0)) },
      allowed: [status.UNIMPLEMENTED],
    },
  );
  return probes;
}

export interface ProbeOutcome {
  probe: string;
  reply: RawGrpcReply;
  ok: boolean;
}

/** Runs every probe on one connection, then checks health on a fresh one. */
export async function runHostileProbes(
  address: string,
  method: string,
): Promise<{ outcomes: ProbeOutcome[]; healthAfter: RawGrpcReply }> {
  const session = rawSession(address);
  const outcomes: ProbeOutcome[] = [];
  try {
    for (const probe of hostileProbes(method)) {
      const reply = await rawGrpcCall(session, probe.request);
      const ok = reply.grpcStatus !== undefined && probe.allowed.includes(reply.grpcStatus);
      outcomes.push({ probe: probe.name, reply, ok });
    }
  } finally {
    session.close();
  }
  const health = rawSession(address);
  try {
    const healthAfter = await rawGrpcCall(health, {
      path: HEALTH_CHECK,
      body: grpcFrame(Buffer.alloc(0)),
    });
    return { outcomes, healthAfter };
  } finally {
    health.close();
  }
}
