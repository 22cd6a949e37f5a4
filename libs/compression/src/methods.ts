// Every registered method, one line each. Order is the listing order of `embpress methods`.
import { Registry } from './core/registry';
import { full } from './methods/full';
import { int8, int16 } from './methods/quantize';
import { alpt } from './methods/alpt';
import { hash } from './methods/hash';
import { qr } from './methods/qr';
import { robe } from './methods/robe';
import { dhe } from './methods/dhe';
import { tt } from './methods/tt';
import { mde } from './methods/mde';
import { deeplight } from './methods/deeplight';
import { pep } from './methods/pep';
import { autosrh } from './methods/autosrh';
import { autodim } from './methods/autodim';
import { optembed } from './methods/optembed';
import { dpq } from './methods/dpq';
import { mgqe } from './methods/mgqe';
import { adapt } from './methods/adapt';
import { dedup } from './methods/dedup';
import { pq } from './codecs/pq';
import { fp16 } from './codecs/fp16';
import { rowwiseInt8, rowwiseInt4 } from './codecs/rowwise';
import { prune } from './codecs/prune';
import { svd } from './codecs/svd';
import { ivf } from './codecs/ivf';

export const registry = new Registry([
  // Trainable (the paper's methods, trained in compressed form).
  full,
  hash,
  qr,
  robe,
  tt,
  dhe,
  mde,
  deeplight,
  pep,
  autosrh,
  autodim,
  optembed,
  dpq,
  mgqe,
  adapt,
  dedup,
  int8,
  int16,
  alpt,
  // Post-training codecs (applied to a trained fp32 table).
  fp16,
  rowwiseInt8,
  rowwiseInt4,
  pq,
  prune,
  svd,
  ivf,
]);
