// Clients of other embpress services: one way to build them, with TLS from configuration,
// keepalive, and round-robin balancing over every address of a headless service (dns:///).
import type { ChannelCredentials, ChannelOptions, Client } from '@grpc/grpc-js';
import type { ClientConfig } from './config';
import { channelCredentials, channelOptions } from './tls';
import { useLeanAsyncResourceBind } from './async-resource-bind';

type ClientConstructor<C extends Client> = new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ChannelOptions>,
) => C;

export function createClient<C extends Client>(
  ctor: ClientConstructor<C>,
  config: ClientConfig,
  extra: ChannelOptions = {},
): C {
  // Every process that opens a client makes HTTP/2 requests: without this, each one costs the
  // process minor-GC pauses (async-resource-bind.ts).
  useLeanAsyncResourceBind();
  return new ctor(config.address, channelCredentials(config.tls), {
    ...channelOptions(config.tls),
    // Detect dead peers on idle connections (a rescheduled pod) without waiting for a call.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    // No channelz service is exposed, so its per-call bookkeeping is work nobody reads.
    'grpc.enable_channelz': 0,
    ...extra,
  });
}
