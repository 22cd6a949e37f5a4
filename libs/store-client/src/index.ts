export * from './store-client';
export * from './decode-rows';
export * from './shard-map';
export * from './sharded-client';
