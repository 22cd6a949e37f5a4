import { runCli } from './testing/cli-process';

describe('embpress serve with bad configuration', () => {
  it('exits 1 and names every bad variable', async () => {
    const cli = runCli(['serve', 'store'], {
      EMBPRESS_STORE_PORT: 'abc',
      EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '-3',
      EMBPRESS_STORE_TLS_CERT: '/nonexistent/cert.pem',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url',
    });
    const { code } = await cli.exit;
    expect(code).toBe(1);
    const stderr = cli.stderr();
    expect(stderr).toContain('EMBPRESS_STORE_PORT: expected an integer port 0-65535, got "abc"');
    expect(stderr).toContain('EMBPRESS_STORE_MAX_IDS_PER_REQUEST');
    expect(stderr).toContain('EMBPRESS_STORE_TLS_KEY: required when TLS_CERT is set');
    expect(stderr).toContain('EMBPRESS_STORE_TLS_CERT: cannot read file "/nonexistent/cert.pem"');
    expect(stderr).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
  });

  it('rejects an unknown service with a usage error (exit 2)', async () => {
    const cli = runCli(['serve', 'nope']);
    expect((await cli.exit).code).toBe(2);
    expect(cli.stderr()).toContain('serve needs one of store, trainer, ranker, retriever, all');
  });

  it('answers a mistyped option with its name and exit 2, not a stack trace', async () => {
    for (const args of [
      ['serve', 'store', '--confg', 'x.json'],
      ['bench', 'codecs', '--rowz', '5'],
      ['bench', 'ranker', '--rat', '5'],
    ]) {
      const cli = runCli(args);
      expect((await cli.exit).code).toBe(2);
      expect(cli.stderr()).toContain(`Unknown option '${args[2]}'`);
      expect(cli.stderr()).not.toContain('    at ');
    }
  });

  it('reads a --config file and lets the environment override it', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'embpress-config-'));
    try {
      const file = join(dir, 'store.json');
      writeFileSync(
        file,
        JSON.stringify({ EMBPRESS_STORE_PORT: 'xyz', EMBPRESS_STORE_MAX_SEARCH_K: 'many' }),
      );
      const cli = runCli(['serve', 'store', '--config', file], { EMBPRESS_STORE_PORT: '99999' });
      expect((await cli.exit).code).toBe(1);
      expect(cli.stderr()).toContain(
        'EMBPRESS_STORE_PORT: expected an integer port 0-65535, got "99999"',
      );
      expect(cli.stderr()).toContain(
        'EMBPRESS_STORE_MAX_SEARCH_K: expected a positive integer, got "many"',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
