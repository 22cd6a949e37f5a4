export {
  loadTrainerConfig,
  TRAINER_DEFAULT_PORT,
  TRAINER_ENV_PREFIX,
  type TrainerConfig,
} from './config';
export { startTrainer } from './main';
