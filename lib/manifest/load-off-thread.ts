import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors';
import { loadManifest, ManifestError } from './load';
import type { Manifest } from './types';

/**
 * What the worker (lib/manifest/load-worker.ts) posts back: the manifest, or the error as plain
 * data (a structured clone keeps an Error's message but not its class or fields).
 */
export type WorkerAnswer =
  | { readonly manifest: Manifest }
  | {
      readonly error: {
        readonly message: string;
        readonly stack?: string;
        /** Set for a ManifestError: the file and every problem. */
        readonly manifest?: { readonly file: string; readonly problems: readonly string[] };
        /** Set for a UserError: its exit status. */
        readonly userExitCode?: number;
      };
    };

/**
 * `loadManifest` on a worker thread: reading release.yaml is ~60–80 ms of CPU (most of it loading
 * and warming the yaml library, then the schema check), which a publish would otherwise spend on
 * its one JavaScript thread while its first requests are answered. The result and the errors are
 * the same as loadManifest's (a ManifestError with every problem, a UserError for an unreadable
 * file). Where the compiled worker does not exist (running from TypeScript sources, e.g. under
 * ts-jest) the manifest is loaded on this thread.
 *
 * The worker never keeps the process alive (unref'd): an interrupted publish exits without it.
 * @throws ManifestError | UserError as loadManifest does
 */
export function loadManifestOffThread(file: string): Promise<Manifest> {
  const script = path.join(__dirname, 'load-worker.js');
  if (!existsSync(script)) return Promise.resolve().then(() => loadManifest(file));
  return new Promise<Manifest>((resolve, reject) => {
    const worker = new Worker(script, { workerData: { file } });
    worker.unref();
    worker.once('message', (answer: WorkerAnswer) => {
      if ('manifest' in answer) return resolve(answer.manifest);
      reject(errorFrom(answer.error));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the release manifest worker exited (${code}) without an answer`)));
  });
}

function errorFrom(e: Extract<WorkerAnswer, { error: unknown }>['error']): Error {
  if (e.manifest) return new ManifestError(e.manifest.file, e.manifest.problems);
  if (e.userExitCode !== undefined) return new UserError(e.message, e.userExitCode);
  const bug = new Error(e.message);
  bug.stack = e.stack;
  return bug;
}
