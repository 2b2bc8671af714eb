// Calls the dev gateway's admin API the one way it accepts (gateway/admin-guard.ts): the start's
// bearer token, a JSON body, a loopback URL (so fetch sends a loopback Host).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The token a gateway started with `--admin` wrote to its data directory. */
export function readAdminToken(dataDir: string): string {
  return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
}

function requireToken(token: string | null): string {
  if (!token) throw new Error('the gateway runs without its admin API: start it with admin: true (or --admin)');
  return token;
}

/** POST /admin/<action> with a JSON body. */
export function adminFetch(httpUrl: string, token: string | null, action: string, body: unknown = {}): Promise<Response> {
  return fetch(`${httpUrl}/admin/${action}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${requireToken(token)}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** GET /admin/stats, parsed. */
export async function adminStats<T>(httpUrl: string, token: string | null): Promise<T> {
  const res = await fetch(`${httpUrl}/admin/stats`, { headers: { Authorization: `Bearer ${requireToken(token)}` } });
  if (!res.ok) throw new Error(`admin stats: ${res.status} ${await res.text()}`);
  return res.json() as Promise<T>;
}
