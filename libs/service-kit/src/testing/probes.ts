// Probes a running server the way an operator's tools do: grpc.health.v1 Check and server
// reflection (grpc.reflection.v1 ListServices). Used by integration tests.
import {
  credentials,
  loadPackageDefinition,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { health } from '@embpress/proto';
import { unaryCall } from '../unary-call';

export async function healthStatus(
  address: string,
  service = '',
  creds: ChannelCredentials = credentials.createInsecure(),
): Promise<string> {
  const client = new health.HealthClient(address, creds);
  try {
    const response = await unaryCall(client, client.check, { service }, { timeoutMs: 5000 });
    return health.healthCheckResponse_ServingStatusToJSON(response.status);
  } finally {
    client.close();
  }
}

interface ReflectionStream {
  write(message: unknown): void;
  end(): void;
  on(
    event: 'data',
    listener: (message: { listServicesResponse?: { service: Array<{ name: string }> } }) => void,
  ): void;
  on(event: 'error', listener: (err: ServiceError) => void): void;
}
type ReflectionClient = Client & {
  ServerReflectionInfo(options: { deadline: number }): ReflectionStream;
};

/** Names of the services a server lists through reflection. */
export async function reflectedServices(
  address: string,
  creds: ChannelCredentials = credentials.createInsecure(),
): Promise<string[]> {
  const protoPath = require.resolve(
    '@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto',
  );
  const loaded = loadPackageDefinition(loadSync(protoPath)) as unknown as {
    grpc: {
      reflection: {
        v1: {
          ServerReflection: new (address: string, creds: ChannelCredentials) => ReflectionClient;
        };
      };
    };
  };
  const client = new loaded.grpc.reflection.v1.ServerReflection(address, creds);
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const stream = client.ServerReflectionInfo({ deadline: Date.now() + 5000 });
      stream.on('data', (message) => {
        resolve((message.listServicesResponse?.service ?? []).map((s) => s.name).sort());
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ listServices: '' });
    });
  } finally {
    client.close();
  }
}
