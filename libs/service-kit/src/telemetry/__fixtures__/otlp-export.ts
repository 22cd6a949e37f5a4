// Child-process fixture for telemetry-otlp.spec.ts: the OTLP/HTTP exporters load node:http with
// a dynamic import(), which jest cannot run without --experimental-vm-modules.
import { startTelemetry } from '../telemetry';
import { rpcServerDuration } from '../instruments';

async function main(): Promise<void> {
  const otlpEndpoint = process.env['FIXTURE_OTLP_ENDPOINT'];
  if (!otlpEndpoint) throw new Error('FIXTURE_OTLP_ENDPOINT is required');
  const telemetry = startTelemetry({ serviceName: 'fixture', otlpEndpoint });
  telemetry.tracer.startSpan('work').end();
  rpcServerDuration().record(3, { 'rpc.service': 'test.Echo', 'rpc.method': 'Say' });
  await telemetry.flush();
  await telemetry.shutdown();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
