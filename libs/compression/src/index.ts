// @embpress/compression: the paper's embedding-compression methods as trainable layers and
// serving codecs, the artifact format and the memory accounting. Pure: bytes in, bytes out.
export * from './core/artifact';
export * from './core/budget';
export * from './core/crc32';
export * from './core/describe';
export * from './core/errors';
export * from './core/half';
export * from './core/ids';
export type * from './core/method';
export * from './core/staged';
export * from './core/optim';
export * from './core/registry';
export * from './core/rng';
export * from './core/shape';
export * from './core/spec';
export { registry } from './methods';
export * from './core/datasets';
// Client-side decoders of the wire codes (used by libs/store-client).
export { decodeHalfRows } from './codecs/fp16';
export { decodeRowwise } from './codecs/rowwise';
export { decodePq, PqTable } from './codecs/pq';
// Method-specific training hooks the trainer needs beyond TrainableEmbedding.
export { AlptTrainable, isAlptTrainable } from './methods/alpt';
// Search building blocks (the store's exact re-rank and benchmarks use them).
export { exactSearch, planSearch, TopK } from './codecs/topk';
export { FlatIndex } from './codecs/flat';
export { IvfTable } from './codecs/ivf';
