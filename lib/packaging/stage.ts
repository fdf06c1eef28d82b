import { chmod, copyFile, constants, lutimes, mkdir, readdir, symlink, utimes, lstat } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { PackageContents, PayloadCompression, RepackagedParts } from './types';

/** Used when a caller gives no compression: readable by CentOS 7 rpm 4.11 and xenial dpkg 1.18. */
export const DEFAULT_COMPRESSION: PayloadCompression = { algorithm: 'xz', level: 6, threads: 0 };

/**
 * Checks what both writers rely on before any tool runs, so a bad path fails with its name
 * instead of as a confusing rpmbuild or dpkg-deb error.
 */
export function validateContents(c: PackageContents & RepackagedParts): void {
  const seen = new Set<string>();
  const all = [...c.files.map((f) => f.path), ...(c.symlinks ?? []).map((s) => s.path), ...(c.directories ?? []).map((d) => d.path)];
  for (const p of all) {
    // Quotes, globs and whitespace would need escaping in an RPM %files list; none of our
    // packages needs them, so refuse rather than risk a silently different file list.
    if (!/^\/[A-Za-z0-9._+@:,=~/-]+$/.test(p) || p.endsWith('/') || p.split('/').includes('..')) {
      throw new UserError(`package ${c.name}: cannot package path ${JSON.stringify(p)} (absolute, no spaces, quotes or glob characters)`);
    }
    if (seen.has(p)) throw new UserError(`package ${c.name}: path ${p} is listed twice`);
    seen.add(p);
  }
  for (const f of c.files) {
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777)
      throw new UserError(`package ${c.name}: ${f.path} has an invalid mode ${f.mode}`);
  }
  if (c.compression) {
    const { algorithm, level, threads } = c.compression;
    if (!['gzip', 'xz'].includes(algorithm))
      throw new UserError(
        `package ${c.name}: payload compression must be gzip or xz (old rpm and dpkg read nothing else), got ${algorithm}`,
      );
    if (!Number.isInteger(level) || level < 0 || level > 9)
      throw new UserError(`package ${c.name}: compression level must be 0-9, got ${level}`);
    if (!Number.isInteger(threads) || threads < 0)
      throw new UserError(`package ${c.name}: compression threads must be 0 (one per core) or more, got ${threads}`);
  }
  if (!Number.isInteger(c.sourceDateEpoch) || c.sourceDateEpoch < 0)
    throw new UserError(`package ${c.name}: sourceDateEpoch must be a Unix time, got ${c.sourceDateEpoch}`);
}

/**
 * Lays out the installed tree under `root`: files copied with their modes, symlinks, owned
 * directories, and every mtime set to sourceDateEpoch so the archive is the same on every build.
 */
export async function stageTree(c: PackageContents & RepackagedParts, root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const inRoot = (p: string) => path.join(root, p);
  for (const d of c.directories ?? []) {
    await mkdir(inRoot(d.path), { recursive: true, mode: 0o755 });
  }
  for (const f of c.files) {
    await mkdir(path.dirname(inRoot(f.path)), { recursive: true, mode: 0o755 });
    try {
      await copyFile(f.sourcePath, inRoot(f.path), constants.COPYFILE_FICLONE);
    } catch (e) {
      throw new UserError(`package ${c.name}: cannot stage ${f.path} from ${f.sourcePath}: ${(e as Error).message}`);
    }
    await chmod(inRoot(f.path), f.mode);
  }
  for (const s of c.symlinks ?? []) {
    await mkdir(path.dirname(inRoot(s.path)), { recursive: true, mode: 0o755 });
    await symlink(s.target, inRoot(s.path));
  }
  // Directories created implicitly get 0755 whatever the umask; owned ones get their own mode.
  const owned = new Map((c.directories ?? []).map((d) => [d.path, d.mode]));
  await fixTree(root, '/', owned, c.sourceDateEpoch);
}

async function fixTree(root: string, rel: string, owned: Map<string, number>, epoch: number): Promise<void> {
  const abs = path.join(root, rel);
  for (const entry of await readdir(abs, { withFileTypes: true })) {
    const childRel = path.posix.join(rel, entry.name);
    const child = path.join(root, childRel);
    if (entry.isDirectory()) {
      await fixTree(root, childRel, owned, epoch);
      await chmod(child, owned.get(childRel) ?? 0o755);
      await utimes(child, epoch, epoch);
    } else if (entry.isSymbolicLink()) {
      await lutimes(child, epoch, epoch);
    } else {
      await utimes(child, epoch, epoch);
    }
  }
  if (rel === '/') {
    await chmod(abs, 0o755);
    await utimes(abs, epoch, epoch);
  }
}

/** Total installed size in KiB as dpkg counts it: each file rounded up, one per directory. */
export async function installedSizeKiB(root: string, skip: (rel: string) => boolean = () => false): Promise<number> {
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(root, rel), { withFileTypes: true })) {
      const childRel = path.posix.join(rel, entry.name);
      if (skip(childRel)) continue;
      if (entry.isDirectory()) {
        total += 1;
        await walk(childRel);
      } else {
        total += Math.ceil((await lstat(path.join(root, childRel))).size / 1024);
      }
    }
  };
  await walk('/');
  return total;
}

/** First line of a description: the RPM Summary and the DEB synopsis. */
export function summaryOf(description: string): string {
  return description.trim().split('\n')[0].trim();
}
