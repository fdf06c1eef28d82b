import { constants } from 'node:fs';
import { access, mkdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from './errors';
import { run } from './exec';

/**
 * Makes sure `dir` is a folder this process can write into, creating what is missing one level at
 * a time. Checked before any download so that a file in the way, or an unwritable parent, fails in
 * seconds rather than after the work. Node's `mkdir(…, { recursive: true })` is avoided on
 * purpose: under /proc it loops forever at 100% CPU (the parent "exists" in a way mkdir
 * cannot use), ignoring SIGTERM.
 * @param dir folder path, relative to the current folder or absolute
 * @param what how messages name it, e.g. "output folder" or "outDir"
 * @returns the absolute path
 * @throws UserError naming `what` and `dir` when a part of the path is a file, the nearest
 *   existing parent is not writable, or a level cannot be created
 */
export async function ensureFolder(dir: string, what: string): Promise<string> {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let existing = abs;
  for (;;) {
    const st = await stat(existing).catch((e: NodeJS.ErrnoException) => {
      // ENOTDIR: a parent is a file; going up finds it and names it.
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw new UserError(`${what} ${dir}: cannot inspect ${existing}: ${e.message}`);
    });
    if (st && !st.isDirectory()) {
      const which = existing === abs ? 'exists and is not a folder' : `${existing} is not a folder`;
      throw new UserError(`${what} ${dir}: ${which}`);
    }
    if (st) break;
    missing.unshift(existing);
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch {
    throw new UserError(`${what} ${dir}: ${existing} is not writable`);
  }
  for (const level of missing) {
    try {
      await mkdir(level);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST' && (await stat(level)).isDirectory()) continue;
      throw new UserError(`${what} ${dir}: cannot create ${level}: ${err.code ?? err.message}`);
    }
  }
  return abs;
}

/**
 * Removes a scratch tree, like `rm(dir, { recursive: true, force: true })` but with coreutils'
 * `rm -rf`: Node's recursive rm walks the tree in JavaScript, ~0.2 s for aptly's published tree
 * of a 1,000-package repository (a directory and a symlink per package) against ~0.03 s.
 * Never throws (a scratch folder left behind is not worth failing a finished publish for).
 */
export async function removeTree(dir: string): Promise<void> {
  await run('rm', ['-rf', '--', dir], { what: `removing ${dir}` }).catch(() => rm(dir, { recursive: true, force: true }).catch(() => {}));
}
