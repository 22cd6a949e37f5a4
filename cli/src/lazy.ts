// Loads a module on first use with a synchronous require, on purpose: a dynamic import() would
// bypass the CommonJS require hooks that OpenTelemetry uses to patch @grpc/grpc-js, and the
// whole point of loading lazily is that telemetry starts before gRPC is loaded.
export function lazyRequire<T>(id: string): T {
  return require(id) as T;
}
