// grpc-free entry point (`@embpress/service-kit/config`): safe to import before telemetry starts.
export * from './env';
export * from './settings';
export * from './telemetry-settings';
