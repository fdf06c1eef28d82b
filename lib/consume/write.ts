import { Stats } from 'node:fs';
import { chmod, chown, lstat, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../util/errors';

/** A file's new content, and its old content to restore should a later rename fail. */
export interface PlannedWrite {
  readonly path: string;
  readonly before: string;
  readonly after: string;
}

interface Target extends PlannedWrite {
  /** The regular file written: `path` itself, or the file a symlink at `path` points to. */
  readonly real: string;
  readonly stats: Stats;
}

const describeError = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
};

/**
 * Writes all files or none: every new content goes to a temporary file next to its target
 * (same folder, same mode, same owner and group) first; only when all are written are they
 * renamed over the targets. Should a rename fail, the files already replaced get their old
 * content back the same way.
 *
 * Before anything is written each target is checked, as an editor would:
 * - a symlink is written through: its target file is replaced, the link stays a link;
 * - a read-only file (no write bit, e.g. mode 0444) is refused, naming it (even for root);
 * - a file whose owner or group the temporary file cannot be given (another user's file, and
 *   not root) is refused, naming it: a rename would silently make it ours.
 * @throws UserError naming the file: refused before writing (nothing written), a failed temporary
 *   file (nothing written), a failed rename (every file restored), or a failed restore (saying
 *   which files now have the new content and which do not). Never a raw file-system error.
 */
export async function writeAllOrNothing(writes: readonly PlannedWrite[]): Promise<void> {
  const targets = await checkTargets(writes);

  const temps: string[] = [];
  try {
    for (const t of targets) {
      const tmp = tempName(t.real, 'ket-consume');
      try {
        await writeFile(tmp, t.after, { flag: 'wx' });
        temps.push(tmp);
        await chmod(tmp, t.stats.mode & 0o7777);
        if (t.stats.uid !== process.getuid?.() || t.stats.gid !== process.getgid?.()) await chown(tmp, t.stats.uid, t.stats.gid);
      } catch (e) {
        throw new UserError(
          `${t.real}: cannot write its new content to the temporary file ${tmp} (${describeError(e)}); nothing was written, every file is as it was`,
        );
      }
    }
  } catch (e) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw e;
  }

  const done: Target[] = [];
  for (const [i, t] of targets.entries()) {
    try {
      await rename(temps[i], t.real);
      done.push(t);
    } catch (e) {
      await Promise.all(temps.slice(i).map((tmp) => rm(tmp, { force: true })));
      throw await rollBack(done, targets, `${t.real}: cannot replace it (${describeError(e)})`);
    }
  }
}

async function checkTargets(writes: readonly PlannedWrite[]): Promise<Target[]> {
  const refusals: string[] = [];
  const targets: Target[] = [];
  const seen = new Map<string, string>();
  for (const w of writes) {
    try {
      const link = await lstat(w.path);
      const real = link.isSymbolicLink() ? await realpath(w.path) : w.path;
      const stats = link.isSymbolicLink() ? await stat(real) : link;
      const shown = real === w.path ? w.path : `${w.path} (a symlink to ${real})`;
      if (seen.has(real)) {
        refusals.push(`${shown}: the same file as ${seen.get(real)}; cannot give it two contents`);
        continue;
      }
      seen.set(real, w.path);
      if ((stats.mode & 0o222) === 0)
        refusals.push(
          `${shown} is read-only (mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')}); make it writable to let consume edit it`,
        );
      else if (process.getuid && process.getuid() !== 0 && stats.uid !== process.getuid())
        refusals.push(`${shown} belongs to user ${stats.uid}: replacing it would make it yours; run consume as its owner`);
      else targets.push({ ...w, real, stats });
    } catch (e) {
      refusals.push(`${w.path}: ${describeError(e)}`);
    }
  }
  if (refusals.length > 0)
    throw new UserError(`cannot write every file; nothing was written:\n${refusals.map((r) => `  - ${r}`).join('\n')}`);
  return targets;
}

function tempName(file: string, purpose: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${purpose}-${process.pid}`);
}

/**
 * Puts the old content back into the files already replaced (temporary file and rename again).
 * @returns the UserError to throw: every file restored, or exactly which files keep the new content.
 */
async function rollBack(done: readonly Target[], all: readonly Target[], cause: string): Promise<UserError> {
  const failed: string[] = [];
  for (const t of done) {
    const tmp = tempName(t.real, 'ket-restore');
    try {
      await writeFile(tmp, t.before, { flag: 'wx' });
      await chmod(tmp, t.stats.mode & 0o7777);
      if (t.stats.uid !== process.getuid?.() || t.stats.gid !== process.getgid?.()) await chown(tmp, t.stats.uid, t.stats.gid);
      await rename(tmp, t.real);
    } catch (e) {
      failed.push(`${t.real}: restoring it failed (${describeError(e)})`);
      // Only a temporary file this call created is removed: a leftover of someone else is not ours.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await rm(tmp, { force: true });
    }
  }
  if (failed.length === 0) return new UserError(`${cause}; every file was restored, nothing was written`);
  const changed = done.filter((t) => failed.some((f) => f.startsWith(`${t.real}:`))).map((t) => t.real);
  const unchanged = all.map((t) => t.real).filter((f) => !changed.includes(f));
  return new UserError(
    `${cause}; restoring the files already replaced failed too:\n${failed.map((f) => `  - ${f}`).join('\n')}\n` +
      `now CHANGED (new content): ${changed.join(', ')}\nunchanged (old content): ${unchanged.join(', ') || 'none'}\n` +
      `restore the changed files (e.g. git checkout -- FILE) or run consume again`,
  );
}
