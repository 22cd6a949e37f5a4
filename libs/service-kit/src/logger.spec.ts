import { Writable } from 'node:stream';
import { logFormat, parseEnv } from './config/env';
import { z } from 'zod';
import { createLogger, resolveLogFormat } from './logger';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('log format', () => {
  it('auto is pretty on a terminal, JSON when piped or in a pod', () => {
    expect(resolveLogFormat('auto', true, {})).toBe('pretty');
    expect(resolveLogFormat('auto', false, {})).toBe('json');
    expect(resolveLogFormat('auto', true, { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBe('json');
    expect(resolveLogFormat('json', true, {})).toBe('json');
    expect(resolveLogFormat('pretty', false, {})).toBe('pretty');
  });

  it('EMBPRESS_LOG_FORMAT accepts auto, json, pretty and names itself otherwise', () => {
    const parse = (value?: string) =>
      parseEnv(z.object({ LOG_FORMAT: logFormat() }), { EMBPRESS_LOG_FORMAT: value }, 'EMBPRESS')
        .LOG_FORMAT;
    expect(parse()).toBe('auto');
    expect(parse(' JSON ')).toBe('json');
    expect(parse('pretty')).toBe('pretty');
    expect(() => parse('yaml')).toThrow(
      'EMBPRESS_LOG_FORMAT: expected one of auto, json, pretty, got "yaml"',
    );
  });

  it('writes JSON lines to a stream by default', () => {
    const out = sink();
    createLogger({ service: 'store', destination: out.stream }).info({ port: 1 }, 'SERVING');
    expect(JSON.parse(out.text())).toMatchObject({
      level: 'info',
      service: 'store',
      port: 1,
      msg: 'SERVING',
    });
  });

  it('writes one uncolored human line per event when pretty', () => {
    const out = sink();
    createLogger({ service: 'store', format: 'pretty', destination: out.stream }).warn(
      { port: 1 },
      'SERVING',
    );
    expect(out.text()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[store\] SERVING {"port":1}\n$/);
  });
});
