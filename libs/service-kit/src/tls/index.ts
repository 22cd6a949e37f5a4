export {
  TlsConfigError,
  channelCredentials,
  channelOptions,
  serverCredentials,
  validateClientTls,
  validateServerTls,
} from './tls';
export type { ClientTlsConfig, ServerTlsConfig } from './tls';
