// Generated gRPC contracts of embpress (ts-proto, outputServices=grpc-js), one namespace per
// proto package, plus the descriptor set used for server reflection.
export * as common from './gen/embpress/common/v1/common';
export * as store from './gen/embpress/store/v1/store';
export * as trainer from './gen/embpress/trainer/v1/trainer';
export * as ranker from './gen/embpress/ranker/v1/ranker';
export * as retriever from './gen/embpress/retriever/v1/retriever';
export * as health from './gen/grpc/health/v1/health';
export { descriptorSet, reflectionPackageDefinition } from './descriptor';
