import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { collectConfig, ConfigError, envWithConfigFile, parseEnv, port, positiveInt } from './env';
import { parseClientConfig, parseServerConfig } from './settings';
import { parseTelemetrySettings } from './telemetry-settings';

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseEnv', () => {
  const schema = z.object({ PORT: port(7000), LIMIT: positiveInt(5) });

  it('applies defaults and reads only the prefixed variables', () => {
    expect(parseEnv(schema, { APP_LIMIT: '9', OTHER_PORT: '1' }, 'APP')).toEqual({
      PORT: 7000,
      LIMIT: 9,
    });
  });

  it('lists every problem with the full variable name', () => {
    expect(problems(() => parseEnv(schema, { APP_PORT: 'abc', APP_LIMIT: '0' }, 'APP'))).toEqual([
      'APP_PORT: expected an integer port 0-65535, got "abc"',
      'APP_LIMIT: expected a positive integer, got "0"',
    ]);
    expect(problems(() => parseEnv(schema, { APP_PORT: '65536' }, 'APP'))).toEqual([
      'APP_PORT: expected an integer port 0-65535, got "65536"',
    ]);
  });

  it('collectConfig merges the problems of several parsers', () => {
    const run = () =>
      collectConfig(
        () => parseServerConfig('A', 1, { A_PORT: 'x' }),
        () => parseServerConfig('B', 1, { B_SHUTDOWN_GRACE_MS: '-1' }),
      );
    expect(problems(run)).toEqual([
      'A_PORT: expected an integer port 0-65535, got "x"',
      'B_SHUTDOWN_GRACE_MS: expected a positive number of milliseconds, got "-1"',
    ]);
  });
});

describe('server and client settings', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-settings-'));
    file = join(dir, 'x.pem');
    writeFileSync(file, 'pem');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has safe defaults: loopback, TLS off', () => {
    expect(parseServerConfig('S', 50051, {})).toEqual({
      host: '127.0.0.1',
      port: 50051,
      tls: {},
      shutdownGraceMs: 10_000,
      maxInFlight: 1024,
      maxInFlightBytes: 128 * 1024 * 1024,
    });
  });

  it('refuses half TLS pairs, mTLS without TLS and unreadable files', () => {
    expect(problems(() => parseServerConfig('S', 1, { S_TLS_CERT: file }))).toEqual([
      'S_TLS_KEY: required when TLS_CERT is set',
    ]);
    expect(problems(() => parseServerConfig('S', 1, { S_TLS_CLIENT_CA: file }))).toEqual([
      'S_TLS_CERT: required when TLS_CLIENT_CA is set (mutual TLS needs TLS)',
    ]);
    expect(
      problems(() =>
        parseServerConfig('S', 1, { S_TLS_CERT: file, S_TLS_KEY: join(dir, 'missing') }),
      ),
    ).toEqual([`S_TLS_KEY: cannot read file "${join(dir, 'missing')}"`]);
    expect(
      problems(() => parseClientConfig('C', 'h:1', { C_TLS_CERT: file, C_TLS_KEY: file })),
    ).toEqual(['C_TLS_CA: required when TLS_CERT is set (a client certificate needs TLS)']);
  });

  it('parses client addresses, including dns:/// targets', () => {
    expect(parseClientConfig('C', '127.0.0.1:50051', {}).address).toBe('127.0.0.1:50051');
    expect(
      parseClientConfig('C', 'x:1', { C_ADDRESS: 'dns:///store-headless:50051' }).address,
    ).toBe('dns:///store-headless:50051');
    expect(problems(() => parseClientConfig('C', 'x:1', { C_ADDRESS: 'store' }))).toEqual([
      'C_ADDRESS: expected host:port, got "store"',
    ]);
  });

  it('sends spans to a local file unless an OTLP endpoint is set', () => {
    expect(parseTelemetrySettings({})).toEqual({
      spansFile: 'var/traces/spans.jsonl',
      otlpEndpoint: undefined,
      prometheusPort: undefined,
      prometheusHost: '127.0.0.1',
    });
    expect(
      parseTelemetrySettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        EMBPRESS_METRICS_PORT: '9464',
        EMBPRESS_METRICS_HOST: '0.0.0.0',
      }),
    ).toEqual({
      otlpEndpoint: 'http://collector:4318',
      spansFile: undefined,
      prometheusPort: 9464,
      prometheusHost: '0.0.0.0',
    });
    expect(
      problems(() => parseTelemetrySettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' })),
    ).toEqual(['OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL, got "collector"']);
  });

  it('layers the environment over a --config file', () => {
    const config = join(dir, 'c.json');
    writeFileSync(config, JSON.stringify({ S_PORT: 1, S_HOST: '0.0.0.0' }));
    expect(envWithConfigFile({ S_PORT: '2' }, config)).toMatchObject({
      S_PORT: '2',
      S_HOST: '0.0.0.0',
    });
    writeFileSync(config, '[1]');
    expect(problems(() => envWithConfigFile({}, config))[0]).toContain('expected a JSON object');
    expect(problems(() => envWithConfigFile({}, join(dir, 'none.json')))[0]).toContain('none.json');
  });
});
