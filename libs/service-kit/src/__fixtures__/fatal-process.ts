// A process that installs the fatal-error policy, then a dependency's rethrowing listener (as
// the tfjs wasm module does), then fails as argv[2] says: 'throw' or 'reject'.
import pino from 'pino';
import { exitOnFatalError } from '../lifecycle';

const logger = pino({ level: 'info' });
exitOnFatalError(logger, () => process.stdout.write('NOT_SERVING\n'));
process.on('uncaughtException', (err) => {
  throw err;
});
setTimeout(() => {
  if (process.argv[2] === 'reject') void Promise.reject(new Error('nobody awaited this'));
  else throw new Error('boom in a timer');
}, 10);
