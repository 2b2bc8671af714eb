// Who may drive the admin API: it is off unless the gateway was started with it, and then a
// request needs the per-start random token, a loopback peer, a loopback Host header (a page on a
// rebound DNS name sends its own name) and, for POST, a JSON body (a `no-cors` form or text POST
// from a page cannot send one). The admin routes send no CORS headers at all.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';

/** File in the data directory that holds the token of the running gateway. */
export const ADMIN_TOKEN_FILE = 'admin-token';

const LOOPBACK_PEERS = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface AdminRefusal { status: number; message: string }

export function newAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes the token where tests, benches and scripts read it (owner-only file); returns the path. */
export function writeAdminToken(dataDir: string, token: string): string {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  writeFileSync(path, token + '\n', { mode: 0o600 });
  return path;
}

/** `Host` values that name this gateway on loopback: 127.0.0.1, localhost and [::1], with its port. */
export function loopbackHosts(port: number): Set<string> {
  return new Set(['127.0.0.1', 'localhost', '[::1]'].map((h) => `${h}:${port}`));
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Why an admin request is refused, or null when it may run. Checked before the body is read. */
export function refuseAdmin(req: IncomingMessage, token: string, port: number): AdminRefusal | null {
  if (!LOOPBACK_PEERS.has(req.socket.remoteAddress ?? '')) return { status: 403, message: 'the admin API answers localhost only' };
  if (!loopbackHosts(port).has((req.headers.host ?? '').toLowerCase())) {
    return { status: 403, message: `the admin API answers only Host 127.0.0.1:${port}, localhost:${port} or [::1]:${port}` };
  }
  const auth = req.headers.authorization ?? '';
  const given = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
  if (!given || !sameSecret(given, token)) {
    return { status: 401, message: 'admin token missing or wrong: send Authorization: Bearer <token> (printed at start, and in <data dir>/admin-token)' };
  }
  if (req.method === 'POST') {
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') return { status: 415, message: 'admin POST bodies must be sent as Content-Type: application/json' };
  }
  return null;
}
