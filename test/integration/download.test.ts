import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Downloader } from '../../lib/download/cache';
import { DownloadError } from '../../lib/download/fetch';
import { INTERRUPTED_EXIT_CODE } from '../../lib/util/errors';
import { silentLogger } from '../../lib/util/log';
import { runCli } from '../support/cli';
import { generateTestKeys } from '../support/gpg';

/** What the slow server sends of each response before it stalls, of the announced TOTAL. */
const SENT = 64 * 1024;
const TOTAL = 64 * 1024 * 1024;

interface SlowResponse {
  readonly url: string;
  /** Resolves when the connection closes: `finished` false means the client hung up mid-body. */
  readonly closed: Promise<{ finished: boolean }>;
}

/**
 * An upstream on 127.0.0.1 that announces TOTAL bytes, sends SENT and then stalls: a download of
 * it ends only when the client closes the connection (or after the client's idle timeout, 60 s).
 */
async function startSlowServer(): Promise<{ server: Server; url: string; responses: SlowResponse[]; firstBytes: Promise<SlowResponse> }> {
  const responses: SlowResponse[] = [];
  let sent: (r: SlowResponse) => void = () => undefined;
  const firstBytes = new Promise<SlowResponse>((resolve) => (sent = resolve));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const closed = new Promise<{ finished: boolean }>((resolve) => res.on('close', () => resolve({ finished: res.writableFinished })));
    const r = { url: req.url ?? '', closed };
    responses.push(r);
    res.writeHead(200, { 'content-length': TOTAL, 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(SENT, 1), () => sent(r));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, responses, firstBytes };
}

/** Every file (not folder) under `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** Resolves once some bytes of the download sit in a partial file under `dir`. */
async function partialFileGrows(dir: string): Promise<void> {
  for (;;) {
    for (const f of await filesUnder(dir).catch(() => [])) {
      if ((await stat(path.join(dir, f)).catch(() => undefined))?.size) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('downloads stop at once on Ctrl-C and leave no partial file (integration)', () => {
  let dir: string;
  const servers: Server[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-download-test-'));
  });

  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  const slowServer = async () => {
    const s = await startSlowServer();
    servers.push(s.server);
    return s;
  };

  test('an abort closes the connection mid-body, rejects as interrupted and removes the partial file', async () => {
    const { url, firstBytes } = await slowServer();
    const cacheDir = path.join(dir, 'cache-abort');
    const controller = new AbortController();
    const downloader = new Downloader({ cacheDir, logger: silentLogger, signal: controller.signal });
    const download = downloader.download({
      what: 'etcd source etcd',
      url: `${url}/etcd.tar.gz`,
      checksum: { algorithm: 'sha256', hex: 'a'.repeat(64) },
    });
    download.catch(() => undefined);
    const response = await firstBytes;
    await partialFileGrows(cacheDir);
    controller.abort('SIGINT');
    const error = await download.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).message).toMatch(
      new RegExp(`^etcd source etcd: ${url}/etcd\\.tar\\.gz: interrupted after \\d+ bytes$`),
    );
    expect((error as DownloadError).exitCode).toBe(INTERRUPTED_EXIT_CODE);
    // The client hung up before the server could finish the body.
    expect(await response.closed).toEqual({ finished: false });
    expect(await filesUnder(cacheDir)).toEqual([]);
  }, 30_000);

  test('an already aborted signal sends no request', async () => {
    const { url, responses } = await slowServer();
    const cacheDir = path.join(dir, 'cache-before');
    const downloader = new Downloader({ cacheDir, logger: silentLogger, signal: AbortSignal.abort('SIGINT') });
    await expect(downloader.download({ what: 'etcd source etcd', url: `${url}/etcd.tar.gz` })).rejects.toMatchObject({
      exitCode: INTERRUPTED_EXIT_CODE,
      message: expect.stringMatching(/interrupted after 0 bytes/),
    });
    expect(responses).toEqual([]);
    expect(await filesUnder(cacheDir)).toEqual([]);
  }, 30_000);

  test('Ctrl-C during `ket-packages build` stops its download at once: exit 130, nothing in the download cache or the output', async () => {
    const { url, firstBytes } = await slowServer();
    const keys = await generateTestKeys(path.join(dir, 'keys'));
    const cacheDir = path.join(dir, 'cache-build');
    const outDir = path.join(dir, 'out', 'build');
    let interrupted = false;
    const res = await runCli(['build', '--only', 'kubelet', '--mirror', url, '--cache-dir', cacheDir, '--out', outDir], {
      cleanEnv: true,
      env: { KEYS_PATH: keys.keysPath },
      onSpawn: (child) => void firstBytes.then(() => (interrupted = child.kill('SIGINT'))),
    });
    expect(interrupted).toBe(true);
    const response = await firstBytes;
    expect(response.url).toBe('/dl.k8s.io/v1.7.4/kubernetes-node-linux-amd64.tar.gz');
    expect(await response.closed).toEqual({ finished: false });
    expect(res.stderr).toMatch(
      /SIGINT: stopping and cleaning up[\s\S]*error: kubelet source node-binaries: http:\/\/127\.0\.0\.1:\d+\/dl\.k8s\.io\/v1\.7\.4\/kubernetes-node-linux-amd64\.tar\.gz: interrupted after \d+ bytes/,
    );
    expect(res.code).toBe(130);
    expect(await filesUnder(cacheDir)).toEqual([]);
    // The output folder (created up front) stays empty, with no .partial- sibling.
    expect(await readdir(path.dirname(outDir))).toEqual(['build']);
    expect(await filesUnder(path.dirname(outDir))).toEqual([]);
  }, 60_000);
});
