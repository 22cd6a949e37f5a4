export { loadStoreConfig, STORE_DEFAULT_PORT, STORE_ENV_PREFIX, type StoreConfig } from './config';
export { startStore } from './main';
