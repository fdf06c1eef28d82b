import { copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Logger, formatBytes } from '../util/log';
import { ChecksumAlgorithm, DownloadError, fetchToFile } from './fetch';
import { mirrorUrl } from './mirror';
import { hashFile } from '../util/hash';

/** The download cache under the current folder when none is given (the folder CodeBuild caches). */
export const DEFAULT_CACHE_DIR = path.join('.cache', 'ket-packages', 'downloads');

export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  readonly hex: string;
}

/** A file to fetch. Several requests for the same checksum (kubelet and kubectl share a tarball) fetch once. */
export interface DownloadRequest {
  /** e.g. 'kubelet source node-binaries': names the download in progress and errors. */
  readonly what: string;
  readonly url: string;
  /** Absent only for unpinned sources with --allow-unpinned: fetched every time, never cached. */
  readonly checksum?: Checksum;
}

export interface DownloadedFile {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface DownloadStats {
  fetched: number;
  fromCache: number;
  bytesFetched: number;
}

/** Path of a file in the content-addressed cache: DIR/sha256/<hex>. */
export function cachePath(cacheDir: string, c: Checksum): string {
  return path.join(cacheDir, c.algorithm, c.hex);
}

export interface DownloaderOptions {
  readonly cacheDir: string;
  readonly mirror?: string;
  readonly logger: Logger;
  /** Where unpinned downloads go (they cannot be cached by checksum). */
  readonly scratchDir?: string;
  /**
   * Aborting (Ctrl-C) stops every download in flight at once and starts no new one; their
   * partial files are removed, the cache keeps only complete, verified files.
   */
  readonly signal?: AbortSignal;
}

/**
 * Fetches files into the content-addressed cache. A file is verified while it streams into a
 * temporary name and renamed into the cache only when its checksum matches, so the cache never
 * holds a wrong or partial file and a second build finds everything there.
 */
export class Downloader {
  readonly stats: DownloadStats = { fetched: 0, fromCache: 0, bytesFetched: 0 };
  private readonly inFlight = new Map<string, Promise<DownloadedFile>>();

  constructor(private readonly opts: DownloaderOptions) {}

  download(req: DownloadRequest): Promise<DownloadedFile> {
    const key = req.checksum ? `${req.checksum.algorithm}:${req.checksum.hex}` : `url:${req.url}`;
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.fetchOnce(req);
      this.inFlight.set(key, p);
    }
    return p;
  }

  /** Moves a verified unpinned download into the cache under its sha256 (used by `pin`). */
  async adoptIntoCache(file: string, sha256: string): Promise<string> {
    const target = cachePath(this.opts.cacheDir, { algorithm: 'sha256', hex: sha256 });
    if (file === target) return target;
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(file, `${target}.tmp`);
    await rename(`${target}.tmp`, target);
    return target;
  }

  private async fetchOnce(req: DownloadRequest): Promise<DownloadedFile> {
    const { logger, cacheDir } = this.opts;
    const url = mirrorUrl(req.url, this.opts.mirror);
    if (req.checksum) {
      const cached = cachePath(cacheDir, req.checksum);
      const st = await stat(cached).catch(() => undefined);
      if (st?.isFile()) {
        // Verified again on every use: a cache restored by CI or edited by hand may be damaged.
        const actual = await hashFile(cached, req.checksum.algorithm);
        if (actual === req.checksum.hex) {
          this.stats.fromCache += 1;
          logger.info(
            `cached      ${req.what} (${req.checksum.algorithm} ${req.checksum.hex.slice(0, 12)}…, ${formatBytes(st.size)}, verified)`,
          );
          return { path: cached, sha256: req.checksum.algorithm === 'sha256' ? req.checksum.hex : '', bytes: st.size };
        }
        logger.warn(
          `${req.what}: cached ${cached} does not match its ${req.checksum.algorithm} (damaged cache?); removing it and downloading again`,
        );
        await rm(cached, { force: true });
      }
    }
    const targetDir = req.checksum
      ? path.join(cacheDir, req.checksum.algorithm)
      : (this.opts.scratchDir ?? path.join(cacheDir, 'unpinned'));
    await mkdir(targetDir, { recursive: true });
    const tmpDir = await mkdtemp(path.join(targetDir, '.part-'));
    const tmp = path.join(tmpDir, 'download');
    try {
      logger.info(`downloading ${req.what} from ${url}`);
      const started = Date.now();
      let nextReport = 0.25;
      const result = await fetchToFile(url, tmp, {
        what: req.what,
        signal: this.opts.signal,
        onProgress: (received, total) => {
          // Plain lines at each quarter: CI logs are not terminals.
          if (total && received / total >= nextReport && received < total) {
            logger.info(`  ${req.what}: ${Math.floor((received / total) * 100)}% of ${formatBytes(total)}`);
            while (received / total >= nextReport) nextReport += 0.25;
          }
        },
      });
      if (req.checksum && result.digests[req.checksum.algorithm] !== req.checksum.hex) {
        throw new DownloadError(
          `${req.what}: checksum mismatch for ${url}\n` +
            `  expected ${req.checksum.algorithm} ${req.checksum.hex}\n` +
            `  actual   ${req.checksum.algorithm} ${result.digests[req.checksum.algorithm]}\n` +
            '  (the file was not kept; check the mirror or the pinned checksum in the manifest)',
        );
      }
      const final = req.checksum ? cachePath(cacheDir, req.checksum) : path.join(targetDir, result.digests.sha256);
      await rename(tmp, final);
      this.stats.fetched += 1;
      this.stats.bytesFetched += result.bytes;
      const seconds = (Date.now() - started) / 1000;
      logger.info(
        `downloaded  ${req.what}: ${formatBytes(result.bytes)} in ${seconds.toFixed(1)} s${req.checksum ? `, ${req.checksum.algorithm} verified` : `, UNPINNED (sha256 ${result.digests.sha256})`}`,
      );
      return { path: final, sha256: result.digests.sha256, bytes: result.bytes };
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
  }
}
