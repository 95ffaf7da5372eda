import { execFileSync } from '../support/isolation';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeOnExit } from '../support/cleanup';

export interface TestPki {
  dir: string;
  /** PEM paths */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing the broker uses: verifying with it must fail. */
  otherCa: string;
  /** File contents for startMosquitto's `files`. */
  brokerFiles(): Record<string, Buffer>;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

// EC keys: an RSA key takes long enough to generate to matter on a Pi-class CI machine.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function selfSignedCa(dir: string, name: string, cn: string): void {
  openssl(['req', '-x509', '-new', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`], dir);
}

function signed(dir: string, name: string, cn: string, extensions: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(['req', '-new', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
    dir,
  );
}

/** A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-pki-'));
  const remove = removeOnExit(dir);
  selfSignedCa(dir, 'ca', 'carbot test CA');
  selfSignedCa(dir, 'other-ca', 'some other CA');
  signed(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed(dir, 'client', 'carbot', 'extendedKeyUsage=clientAuth\n');
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    ca: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    otherCa: file('other-ca.crt'),
    brokerFiles: () => ({
      'ca.crt': readFileSync(file('ca.crt')),
      'server.crt': readFileSync(file('server.crt')),
      'server.key': readFileSync(file('server.key')),
    }),
    remove,
  };
}

/** A mosquitto password file made the way an admin makes one, with mosquitto_passwd. */
export function passwordFile(users: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-passwd-'));
  const remove = removeOnExit(dir);
  try {
    const file = path.join(dir, 'passwd');
    for (const [i, [user, password]] of Object.entries(users).entries()) {
      execFileSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', file, user, password], { stdio: 'ignore' });
    }
    return readFileSync(file, 'utf8');
  } finally {
    remove();
  }
}

/** A file holding `content`, readable only by its owner, as a systemd credential would be. */
export function secretFile(content: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-secret-'));
  removeOnExit(dir);
  const file = path.join(dir, 'mqtt-password');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}
