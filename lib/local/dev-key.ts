import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseColonsKeys } from '../signing/colons';
import { run } from '../util/exec';
import { Logger } from '../util/log';

/**
 * A development signing key for `ket-packages local` when no key is configured: created once in
 * DIR (private.key, public.key, as KEYS_PATH expects) and reused, so repositories in the embedded
 * store stay verifiable across runs. Never used for AWS: publish there needs a configured key.
 */
export async function ensureDevelopmentKey(dir: string, logger: Logger): Promise<string> {
  if (existsSync(path.join(dir, 'private.key'))) return dir;
  logger.info(`no signing key configured: creating a local development key in ${dir}`);
  const home = await mkdtemp(path.join(os.tmpdir(), 'ket-devkey-'));
  await chmod(home, 0o700);
  const gpg = (args: string[]) =>
    run('gpg', ['--batch', '--yes', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
      what: 'creating a development signing key',
    });
  try {
    // RSA: CentOS 7's rpm and xenial's apt verify it.
    await gpg(['--quick-gen-key', 'KET local development key (not for production) <ket-local@example.invalid>', 'rsa3072', 'sign', '3y']);
    const fpr = parseColonsKeys((await gpg(['--with-colons', '--list-secret-keys'])).stdout)[0].fingerprint;
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'private.key'), (await gpg(['--armor', '--export-secret-keys', fpr])).stdout, { mode: 0o600 });
    await writeFile(path.join(dir, 'public.key'), (await gpg(['--armor', '--export', fpr])).stdout);
    return dir;
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  }
}
