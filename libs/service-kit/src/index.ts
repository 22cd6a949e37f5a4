// The service kit. NOTE: this entry point loads @grpc/grpc-js. A composition root must start
// telemetry (`@embpress/service-kit/telemetry`) and parse config (`@embpress/service-kit/config`)
// before importing it, or gRPC calls go untraced.
export * from './config/index';
export * from './errors';
export * from './deadline';
export * from './logger';
export * from './health';
export * from './server';
export * from './client';
export * from './unary-call';
export * from './lifecycle';
export * from './tls';
export * from './validate';
export * from './span';
export * from './multiplexed-stream';
