// Test support shared by the projects' integration tests (`@embpress/service-kit/testing`).
export * from './certs';
export * from './probes';
export * from './raw-grpc';
export * from './hostile-probes';
