// A TCP port on 127.0.0.1 that was free a moment ago, for a process a test starts on a port of its
// choosing (a browser's remote debugging, a driver, a gateway restarted on the same port).

import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
