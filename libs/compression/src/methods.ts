// Every registered method, one line each. Order is the listing order of `embpress methods`.
import { Registry } from './core/registry';
import { full } from './methods/full';

export const registry = new Registry([full]);
