export {
  loadRankerConfig,
  RANKER_DEFAULT_PORT,
  RANKER_ENV_PREFIX,
  type RankerConfig,
} from './config';
export { startRanker } from './main';
