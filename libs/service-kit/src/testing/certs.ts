// Test PKI minted with the openssl CLI into a temp dir: a CA, a server certificate for
// localhost/127.0.0.1, a client certificate, and an unrelated CA with its own client certificate.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestPki {
  dir: string;
  /** Path of a file in the PKI dir, e.g. `file('server.crt')`. */
  file(name: string): string;
  cleanup(): void;
}

// EC P-256 keys: much faster to generate than RSA, and fine for TLS 1.2/1.3.
const NEW_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embpress-pki-'));
  const file = (name: string): string => path.join(dir, name);
  let serial = 1;
  // Arguments are space-separated; every file name here is a plain relative name inside `dir`.
  const openssl = (args: string) =>
    execFileSync('openssl', args.split(' '), { cwd: dir, stdio: 'pipe' });
  const makeCa = (name: string) =>
    openssl(
      `req -x509 ${NEW_KEY} -keyout ${name}.key -out ${name}.crt -days 1 -subj /CN=${name}` +
        ' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
    );
  const makeLeaf = (name: string, ca: string, cn: string, extensions: string[]) => {
    fs.writeFileSync(file(`${name}.ext`), ['basicConstraints=CA:FALSE', ...extensions].join('\n'));
    openssl(`req -new ${NEW_KEY} -keyout ${name}.key -out ${name}.csr -subj /CN=${cn}`);
    openssl(
      `x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -set_serial ${serial++} -days 1 -extfile ${name}.ext -out ${name}.crt`,
    );
  };
  makeCa('ca');
  makeLeaf('server', 'ca', 'localhost', [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'extendedKeyUsage=serverAuth',
  ]);
  makeLeaf('client', 'ca', 'test-client', ['extendedKeyUsage=clientAuth']);
  makeCa('other-ca');
  makeLeaf('rogue-client', 'other-ca', 'rogue-client', ['extendedKeyUsage=clientAuth']);
  return { dir, file, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
