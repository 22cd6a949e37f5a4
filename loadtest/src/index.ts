// @embpress/loadtest: the Node open-loop runner, the scenarios (loadtest/scenarios/*.json) and
// their request generators and gRPC driver. The k6 scripts in loadtest/k6 read the same scenarios.
export {
  runOpenLoop,
  errorCodeName,
  DEFAULT_MAX_IN_FLIGHT,
  type OpenLoopOptions,
  type OpenLoopResult,
} from './open-loop';
export { LatencyRecorder, percentile } from './latency-recorder';
export * from './scenario';
export * from './requests';
export * from './driver';
export { RequestRng } from './gen/random';
export { ZipfRanks } from './gen/zipf';
export * from './run-scenario';
