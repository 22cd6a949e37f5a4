export * from './store-client';
export * from './decode-rows';
export * from './shard-map';
export * from './sharded-client';
export * from './lookup-stream';
export * from './lookup-stream-envelope';
export * from './active-versions';
