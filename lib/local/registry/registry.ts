import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../../util/errors';

/** Debian's package installs the distribution registry here (`docker-registry`, distribution 2.8). */
export const DOCKER_REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface StartRegistryOptions {
  /** Where blobs are stored; a fresh temporary folder (removed on stop) when absent. */
  readonly storageDir?: string;
  /** Port to listen on; a free one when absent. */
  readonly port?: number;
  readonly binary?: string;
}

/** A docker-registry process listening on 127.0.0.1 over plain HTTP. */
export interface LocalRegistry {
  /** host:port, the registry part of image references pushed to it, e.g. 127.0.0.1:40123. */
  readonly host: string;
  readonly port: number;
  readonly storageDir: string;
  /** Stops the process (and removes the storage folder if it was temporary). */
  stop(): Promise<void>;
}

/**
 * The registry's configuration file. Kept minimal: filesystem storage, plain HTTP on loopback
 * only (nothing here is meant to be reachable from another host), deletes allowed so tests can
 * make an image go missing, and quiet logs so its output is only read when it fails.
 */
export function registryConfig(storageDir: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

/** Asks the kernel for a free TCP port on 127.0.0.1 (released again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts docker-registry on 127.0.0.1 with a generated config file and waits until its API
 * answers. A port taken between choosing it and the registry binding it is retried on another.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<LocalRegistry> {
  const attempts = options.port !== undefined ? 1 : 3;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startOnce(options);
    } catch (e) {
      lastError = e;
      if (!(e instanceof PortInUse)) throw e;
    }
  }
  throw lastError;
}

class PortInUse extends UserError {}

async function startOnce(options: StartRegistryOptions): Promise<LocalRegistry> {
  const binary = options.binary ?? DOCKER_REGISTRY_BINARY;
  const ownStorage = options.storageDir === undefined;
  const storageDir = options.storageDir ?? (await mkdtemp(path.join(os.tmpdir(), 'ket-registry-')));
  const configDir = await mkdtemp(path.join(os.tmpdir(), 'ket-registry-config-'));
  const port = options.port ?? (await freePort());
  const configFile = path.join(configDir, 'config.yml');
  await writeFile(configFile, registryConfig(storageDir, port));
  const cleanup = async (): Promise<void> => {
    await rm(configDir, { recursive: true, force: true });
    if (ownStorage) await rm(storageDir, { recursive: true, force: true });
  };

  const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<string>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) =>
      resolve(e.code === 'ENOENT' ? `${binary} is not installed (apt-get install docker-registry)` : e.message),
    );
    child.on('exit', (code, signal) => resolve(`exited (${signal ?? `exit ${code}`})`));
  });

  const ready = await Promise.race([waitForApi(port, 15_000), exited.then((why) => `dead:${why}`)]);
  if (ready !== 'ready') {
    await stopChild(child);
    await cleanup();
    const log = output.join('').trim().split('\n').slice(-5).join('\n');
    const message = `docker-registry on 127.0.0.1:${port} did not start: ${ready.replace(/^dead:/, '')}${log ? `\n${log}` : ''}`;
    throw /address already in use/.test(log) ? new PortInUse(message) : new UserError(message);
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    storageDir,
    stop: async () => {
      await stopChild(child);
      await cleanup();
    },
  };
}

async function waitForApi(port: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return 'ready';
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `no answer from /v2/ within ${timeoutMs / 1000}s`;
}

function stopChild(child: ChildProcess): Promise<void> {
  // No pid: the binary never started (ENOENT), so there is no exit to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
