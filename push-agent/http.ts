// The push agent's HTTP endpoint for apps (application level, outside AUN, spec push.md §8.1):
// the VAPID public key, subscription registration (returns a push token) and removal. CORS-open:
// the token it hands out is useless without the AID's own authenticated gateway connection.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { WebPushSubscription } from './state.ts';

export interface RegisterResult {
  push_notify_aid: string;
  push_token: string;
  /** Seconds since the epoch. */
  expires_at: number;
  vapid_public_key: string;
}

export interface HttpApi {
  agentAid: string;
  vapidPublicKey: string;
  register(aid: string, sub: WebPushSubscription): RegisterResult | { error: string; status: number };
  unregister(endpoint: string): boolean;
}

export class BadRequest extends Error {
  override name = 'BadRequest';
}

const MAX_BODY = 8 * 1024;
const AID = /^[a-z0-9_][a-z0-9_-]{3,63}\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // An oversized body is read to its end and discarded, so the client still gets its answer.
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return reject(new BadRequest(`body over ${MAX_BODY} bytes`));
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new BadRequest('body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

function b64urlBytes(v: unknown): number {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(v)) return -1;
  return Buffer.from(v, 'base64url').length;
}

/** Validates PushSubscription.toJSON() output. */
export function readSubscription(v: unknown): WebPushSubscription {
  const sub = v as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } } | null;
  if (typeof sub !== 'object' || sub === null || typeof sub.endpoint !== 'string' || sub.endpoint.length > 2048) {
    throw new BadRequest('subscription.endpoint must be a URL string');
  }
  let url: URL;
  try { url = new URL(sub.endpoint); } catch { throw new BadRequest('subscription.endpoint is not a URL'); }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new BadRequest('subscription.endpoint must be https (http only on loopback, for a local push service)');
  }
  const keys = sub.keys ?? {};
  if (b64urlBytes(keys.p256dh) !== 65) throw new BadRequest('subscription.keys.p256dh must be a base64url 65-byte P-256 point');
  if (b64urlBytes(keys.auth) !== 16) throw new BadRequest('subscription.keys.auth must be a base64url 16-byte secret');
  return { endpoint: sub.endpoint, keys: { p256dh: keys.p256dh as string, auth: keys.auth as string } };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type',
    'Cache-Control': 'no-store',
  });
  res.end(JSON.stringify(body));
}

export function createHttpServer(api: HttpApi): Server {
  return createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      try {
        if (req.method === 'OPTIONS') return send(res, 204, {});
        if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' });
        if (req.method === 'GET' && path === '/vapid-public-key') {
          return send(res, 200, { public_key: api.vapidPublicKey, push_notify_aid: api.agentAid });
        }
        if (req.method === 'POST' && path === '/subscribe') {
          const body = await readJson(req);
          if (typeof body.aid !== 'string' || !AID.test(body.aid)) throw new BadRequest('aid must be an AID');
          const out = api.register(body.aid, readSubscription(body.subscription));
          return 'error' in out ? send(res, out.status, { error: out.error }) : send(res, 200, out);
        }
        if (req.method === 'POST' && path === '/unsubscribe') {
          const body = await readJson(req);
          if (typeof body.endpoint !== 'string') throw new BadRequest('endpoint must be a string');
          return send(res, 200, { removed: api.unregister(body.endpoint) });
        }
        send(res, 404, { error: `no route ${req.method} ${path}` });
      } catch (err) {
        if (err instanceof BadRequest) send(res, 400, { error: err.message });
        else send(res, 500, { error: (err as Error).message });
      }
    })();
  });
}
