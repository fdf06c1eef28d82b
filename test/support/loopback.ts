import * as http from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * Starts `server` on a free port of 127.0.0.1 (tests reach nothing else).
 * @returns its base URL (`http://127.0.0.1:PORT`) and a close that drops open keep-alive
 *   connections first, so a test's teardown never waits for an idle client socket
 */
export async function listenOnLoopback(server: http.Server): Promise<{ endpoint: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
