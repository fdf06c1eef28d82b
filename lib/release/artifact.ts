import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { hashFile } from '../util/hash';
import { UserError } from '../util/errors';

/**
 * The sha256 of a build output folder, the identity of what a manual approval approves.
 *
 * CodeBuild zips the output artifact after the build's commands have run, so the zip's own hash is
 * not known to the build (and the zip's timestamps differ between zippings of the same files).
 * The digest is taken over the files instead: every regular file below `dir`, in byte order of
 * its path relative to `dir` (with '/'), one `sha256sum` line each ("HEX␠␠PATH\n"), and the
 * sha256 of that listing. `sha256sum` can reproduce it:
 *   (cd DIR && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum) | sha256sum
 * Returns 64 lowercase hex digits. Throws a UserError for a missing folder and for anything but
 * regular files and folders (a symlink could point outside what was approved).
 */
export async function artifactSha256(dir: string): Promise<string> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UserError(`build output ${dir}: no such folder`);
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) files.push(child);
      else throw new UserError(`build output ${dir}: ${child} is neither a file nor a folder; the approved artifact holds only files`);
    }
  };
  await walk('');
  files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const listing = createHash('sha256');
  for (const f of files) listing.update(`${await hashFile(path.join(dir, f))}  ${f}\n`);
  return listing.digest('hex');
}

/**
 * Refuses a build output whose digest is not `expected` (64 hex digits, as the build exported
 * it): publish must ship exactly the artifact that was approved. `field` names the setting the
 * expected value came from, for the message.
 */
export async function assertArtifactSha256(dir: string, expected: string, field = 'expected sha256'): Promise<void> {
  const want = expected.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(want)) throw new UserError(`${field}: '${expected}' is not a sha256 (64 hex digits)`);
  const got = await artifactSha256(dir);
  if (got !== want)
    throw new UserError(
      `build output ${dir} has sha256 ${got}, but ${want} was approved (${field}): refusing to publish an artifact other than the approved one`,
    );
}
