// @embpress/loadtest: the Node open-loop runner and the scenario driver (k6 scripts in ../k6).
export {
  runOpenLoop,
  errorCodeName,
  DEFAULT_MAX_IN_FLIGHT,
  type OpenLoopOptions,
  type OpenLoopResult,
} from './open-loop';
export { LatencyRecorder } from './latency-recorder';
