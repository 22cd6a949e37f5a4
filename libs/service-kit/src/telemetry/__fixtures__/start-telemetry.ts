// Side-effect module: the fixture's FIRST import, so telemetry is registered before
// @grpc/grpc-js is required. This is the pattern services use.
import { startTelemetry } from '../telemetry';

const spansFile = process.env['FIXTURE_SPANS_FILE'];
if (!spansFile) throw new Error('FIXTURE_SPANS_FILE is required');

export const telemetry = startTelemetry({ serviceName: 'fixture', spansFile, prometheusPort: 0 });
