// Child-process fixture for telemetry.e2e.spec.ts (jest's module system bypasses the
// require hooks that instrument grpc-js, so this runs under plain `node --require tsx/cjs`).
// Prints one JSON line: { reply, prometheusPort, metricsText }.
import { telemetry } from './start-telemetry'; // must stay first: it patches grpc-js on load
import * as grpc from '@grpc/grpc-js';
import { rpcServerDuration } from '../instruments';

const passthrough = (buf: Buffer): Buffer => buf;
const echoService: grpc.ServiceDefinition = {
  say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};

// The generic constructor's instances are untyped (`[method: string]: Function`).
type EchoClient = grpc.Client & {
  say(request: Buffer, callback: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
};

async function main(): Promise<void> {
  const server = new grpc.Server();
  server.addService(echoService, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const started = performance.now();
      callback(null, call.request);
      rpcServerDuration().record(performance.now() - started, {
        'rpc.service': 'test.Echo',
        'rpc.method': 'Say',
        'rpc.grpc.status_code': grpc.status.OK,
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );

  const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new EchoClient(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as EchoClient;
  const reply = await new Promise<Buffer>((resolve, reject) =>
    client.say(Buffer.from('hello'), (err, res) => (err || !res ? reject(err) : resolve(res))),
  );
  client.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));

  const prometheusPort = await telemetry.prometheusPort();
  const metricsText = await (await fetch(`http://127.0.0.1:${prometheusPort}/metrics`)).text();

  await telemetry.shutdown();
  process.stdout.write(
    `${JSON.stringify({ reply: reply.toString(), prometheusPort, metricsText })}\n`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
