// grpc-free entry point (`@embpress/service-kit/config`): safe to import before telemetry starts.
export { availableCores } from './cores';
export * from './env';
export * from './settings';
export * from './telemetry-settings';
export { isOptionError, UsageError } from './usage-error';
export { lazyRequire } from './lazy-require';
export * from './option-values';
