import * as net from 'node:net';
import { UserError } from '../util/errors';

/**
 * Fails fast when a TCP port on `host` is taken, before slow start-up work (fixtures take many
 * seconds) is spent on a run that would fail when the server binds it. The port is released again
 * before returning; another process can still take it in between, and the server's own bind
 * reports that.
 * @param port 1-65535; 0 (any free port) always passes
 * @param field names the setting in the error, e.g. 'port'
 * @throws UserError when the port is in use
 */
export function assertPortFree(port: number, field = 'port', host = '127.0.0.1'): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new UserError(`${field} ${port}: already in use on ${host} (another 'ket-packages local --serve'?); choose another or stop it`)
          : new UserError(`${field} ${port}: cannot listen on ${host}: ${e.message}`),
      ),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}
