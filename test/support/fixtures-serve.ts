/**
 * `npm run fixtures`: serves the fixture set on 127.0.0.1 until Ctrl-C and prints the arguments
 * with which `ket-packages build` runs end to end without internet, plus a throwaway signing key.
 */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { startFixtureServer } from '../../lib/local/offline-upstream/server';
import { generateTestKeys } from './gpg';

async function main(): Promise<void> {
  const dir = path.resolve(process.env.KET_FIXTURES_DIR ?? path.join('.cache', 'ket-packages', 'fixtures'));
  await mkdir(dir, { recursive: true });
  const port = process.env.KET_FIXTURES_PORT ? Number(process.env.KET_FIXTURES_PORT) : 0;
  process.stderr.write('generating fixtures (upstream files, and 28 small images pushed to a local docker-registry)…\n');
  const server = await startFixtureServer({ dir, port, images: true, realSizes: process.env.KET_FIXTURES_REAL_SIZES === '1' });
  const keys = await generateTestKeys(path.join(dir, 'keys'), { name: 'KET fixture signing (throwaway)' });
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  const images = server.registryMirror ? ` --registry-mirror ${server.registryMirror}` : '';
  process.stdout.write(
    `fixtures served at ${server.url} (${server.files.length} sources, from ${rel(dir)})\n\n` +
      'build every package from them (offline, signed with a throwaway key):\n\n' +
      `  KEYS_PATH=${rel(keys.keysPath)} npx ket-packages build --manifest ${rel(server.manifestPath)} --mirror ${server.url}${images}\n\n` +
      `arguments: --manifest ${rel(server.manifestPath)} --mirror ${server.url}${images}\n` +
      'serving until Ctrl-C\n',
  );
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
