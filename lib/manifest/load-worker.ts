import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../util/errors';
import { loadManifest, ManifestError } from './load';
import type { WorkerAnswer } from './load-off-thread';

// The worker thread of loadManifestOffThread (lib/manifest/load-off-thread.ts): one manifest,
// one answer, then the thread ends.
const { file } = workerData as { file: string };
let answer: WorkerAnswer;
try {
  answer = { manifest: loadManifest(file) };
} catch (e) {
  const err = e as Error;
  answer = {
    error: {
      message: err.message,
      stack: err.stack,
      manifest: e instanceof ManifestError ? { file: e.file, problems: e.problems } : undefined,
      userExitCode: e instanceof UserError ? e.exitCode : undefined,
    },
  };
}
parentPort!.postMessage(answer);
