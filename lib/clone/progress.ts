import { SingleBar } from 'cli-progress';
import { formatBytes } from '../util/log';
import { CloneProgress } from './types';

/**
 * Shows the copy's progress: a bar redrawn in place on a terminal (cli-progress), plain lines
 * every few seconds otherwise (CodeBuild and CI logs are not terminals).
 */
export interface ProgressReporter {
  update(p: CloneProgress): void;
  stop(): void;
}

/**
 * The copy rate: only what this run copied (objects found identical cost a HEAD, not a copy, and
 * would make a re-run look absurdly fast). @returns '' while nothing has been copied.
 */
export function rate(p: CloneProgress): string {
  const objects = p.objectsDone - p.objectsSkipped;
  if (objects <= 0) return '';
  const seconds = Math.max(p.elapsedMs, 1) / 1000;
  return `${formatBytes((p.bytesDone - p.bytesSkipped) / seconds)}/s, ${Math.round(objects / seconds)} objects/s`;
}

export function progressLine(p: CloneProgress): string {
  const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
  const r = rate(p);
  return `clone: ${p.objectsDone}/${p.objectsTotal} objects (${p.objectsSkipped} already identical), ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${pct}%)${r ? `, ${r}` : ''}`;
}

/**
 * @param stream where to draw (stderr: stdout stays machine-readable)
 * @param everyMs how often a plain line is written when `stream` is not a terminal
 */
export function progressReporter(stream: NodeJS.WriteStream, everyMs = 5000): ProgressReporter {
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: 'clone [{bar}] {percentage}% | {value}/{total} objects | {bytes} | {rate}',
      hideCursor: true,
      clearOnComplete: false,
    });
    let started = false;
    return {
      update: (p) => {
        const payload = { bytes: `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}`, rate: rate(p) || 'nothing copied' };
        if (!started) {
          bar.start(p.objectsTotal, p.objectsDone, payload);
          started = true;
        } else bar.update(p.objectsDone, payload);
      },
      stop: () => {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  let last = 0;
  let latest: CloneProgress | undefined;
  let printed: CloneProgress | undefined;
  return {
    update: (p) => {
      latest = p;
      if (p.elapsedMs - last >= everyMs || (p.objectsDone === p.objectsTotal && printed?.objectsDone !== p.objectsDone)) {
        last = p.elapsedMs;
        printed = p;
        stream.write(`${progressLine(p)}\n`);
      }
    },
    stop: () => {
      if (latest && printed !== latest) stream.write(`${progressLine(latest)}\n`);
      printed = latest;
    },
  };
}
