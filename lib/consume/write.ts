import { chmod, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/** A file's new content, and its old content to restore should a later rename fail. */
export interface PlannedWrite {
  readonly path: string;
  readonly before: string;
  readonly after: string;
}

/**
 * Writes all files or none: every new content goes to a temporary file next to its target
 * (same folder, same mode) first; only when all are written are they renamed over the targets.
 * Should a rename fail, the files already replaced get their old content back the same way.
 */
export async function writeAllOrNothing(writes: readonly PlannedWrite[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const w of writes) {
      const tmp = path.join(path.dirname(w.path), `.${path.basename(w.path)}.ket-consume-${process.pid}`);
      const { mode } = await stat(w.path);
      await writeFile(tmp, w.after, { flag: 'wx' });
      await chmod(tmp, mode & 0o7777);
      temps.push(tmp);
    }
  } catch (e) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw e;
  }
  const done: PlannedWrite[] = [];
  try {
    for (const [i, w] of writes.entries()) {
      await rename(temps[i], w.path);
      done.push(w);
    }
  } catch (e) {
    await Promise.all(temps.slice(done.length).map((t) => rm(t, { force: true })));
    await writeAllOrNothing(done.map((w) => ({ path: w.path, before: w.after, after: w.before }))).catch(() => undefined);
    throw e;
  }
}
