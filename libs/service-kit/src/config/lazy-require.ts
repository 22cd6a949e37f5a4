// Loads a module on first use with a synchronous require, on purpose: a dynamic import() would
// bypass the CommonJS require hooks that OpenTelemetry uses to patch @grpc/grpc-js, and the
// whole point of loading lazily is that telemetry starts before gRPC is loaded.
//
// `id` is a package name or an absolute path: a relative id would resolve against THIS file's
// directory, so callers pass `require.resolve('./module')` for their own modules.
export function lazyRequire<T>(id: string): T {
  if (id.startsWith('.'))
    throw new Error(`lazyRequire("${id}"): pass require.resolve("${id}") for a relative module`);
  return require(id) as T;
}
