// HTTP on the gateway's port: health, discovery, PKI (spec §2.2, §13.1), with open CORS so a page
// on another origin can read them; and, when switched on, the admin / fault-injection API, which
// sends no CORS at all and is guarded by admin-guard.ts. Bad input is a 4xx, never a 500.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { refuseAdmin } from './admin-guard.ts';
import { quote } from './frame-limits.ts';
import type { Revocation } from './revocation.ts';
import { fingerprintMatches } from './sig.ts';

/** The answer of GET /admin/stats (also `Gateway.stats()`). */
export interface GatewayStats {
  long_connections: number;
  short_connections: number;
  pending_connections: number;
  logins: number;
  connects: number;
  refreshes: number;
  messages_stored: number;
  /** `secure`: the socket came over TLS (wss). */
  connections: { id: string; aid: string | null; device_id: string; slot_id: string; kind: string; secure: boolean }[];
}

export interface AdminApi {
  stats(): GatewayStats;
  drop(): void;
  closeAll(code: number, reason: string): void;
  pause(): void;
  resume(): void;
  delay(ms: number): void;
  inject(aid: string, frame: string): number;
  /** Revokes a certificate this gateway issued, by serial (hex); false when unknown. */
  revoke(serial: string): boolean;
}

export interface HttpDeps {
  issuer: string;
  chainPem(): string;
  rootPem: string;
  /** The AID's certificates, the current one first, then those it replaced; none when not registered. */
  agentCerts(aid: string): Iterable<string>;
  /** The ws(s):// URL discovery lists for a request that came with this Host header. */
  gatewayUrl(host: string | undefined): string;
  /** Paused by the admin API: /health answers 503. */
  isPaused(): boolean;
  /** Null while the admin API is off (every /admin/* path is then a 404). */
  admin: { api: AdminApi; token: string; port(): number } | null;
  revocation: Pick<Revocation, 'crl' | 'ocsp'>;
}

const MAX_ADMIN_BODY = 1_100_000;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function cors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
  res.setHeader('Access-Control-Max-Age', '600');
}

function send(res: ServerResponse, status: number, type: string, body: string, head = false): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_ADMIN_BODY) throw new HttpError(413, 'body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Close codes a server may send (RFC 6455 §7.4): 1000-1003, 1007-1014, 3000-4999. */
function sendableCloseCode(code: unknown): code is number {
  return typeof code === 'number' && Number.isInteger(code)
    && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

async function admin(req: IncomingMessage, res: ServerResponse, action: string, deps: HttpDeps): Promise<void> {
  if (!deps.admin) throw new HttpError(404, 'not found: the admin API is off (start the gateway with --admin)');
  const refusal = refuseAdmin(req, deps.admin.token, deps.admin.port());
  if (refusal) throw new HttpError(refusal.status, refusal.message);
  const api = deps.admin.api;
  if (action === 'stats' && req.method === 'GET') return json(res, 200, api.stats());
  if (req.method !== 'POST') throw new HttpError(405, `use POST /admin/${action}`);
  const body = await readJson(req);
  switch (action) {
    case 'drop':
      api.drop();
      return json(res, 200, { ok: true });
    case 'close': {
      const code = body.code ?? 1001;
      if (!sendableCloseCode(code)) throw new HttpError(400, 'code must be a close code a server may send (1000-1003, 1007-1014, 3000-4999)');
      api.closeAll(code, typeof body.reason === 'string' ? body.reason : 'closed by admin');
      return json(res, 200, { ok: true, code });
    }
    case 'pause':
      api.pause();
      return json(res, 200, { ok: true, paused: true });
    case 'resume':
      api.resume();
      return json(res, 200, { ok: true, paused: false });
    case 'delay': {
      const ms = body.ms;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 600_000) throw new HttpError(400, 'ms must be a number between 0 and 600000');
      api.delay(ms);
      return json(res, 200, { ok: true, ms });
    }
    case 'revoke': {
      if (typeof body.serial !== 'string') throw new HttpError(400, 'body must be {"serial": <hex>}');
      const revoked = api.revoke(serialOf(body.serial));
      if (!revoked) throw new HttpError(404, `no certificate issued here with serial ${body.serial}`);
      return json(res, 200, { ok: true, revoked });
    }
    case 'inject': {
      const frames = typeof body.frame === 'string' ? [body.frame] : body.frames;
      if (typeof body.aid !== 'string' || !Array.isArray(frames) || !frames.every((f) => typeof f === 'string')) {
        throw new HttpError(400, 'body must be {"aid": <string>, "frame": <string>} or {"aid": <string>, "frames": [<string>, …]}');
      }
      let sockets = 0;
      for (const f of frames) sockets = api.inject(body.aid, f);
      return json(res, 200, { ok: true, sockets, frames: frames.length });
    }
  }
  throw new HttpError(404, `unknown admin action: ${action}`);
}

/** The path's AID, or a 400 when its %-escapes do not decode. */
function decodeAid(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'bad request: the AID in the path is not valid percent-encoding');
  }
}

/** A certificate serial as hex (at most 40 bytes, RFC 5280 allows 20); anything else is a 400. */
function serialOf(raw: string): string {
  if (!/^(?:0x)?[0-9a-fA-F]{1,80}$/.test(raw)) throw new HttpError(400, 'bad request: a serial is 1–80 hex digits');
  return raw.replace(/^0x/, '');
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'bad request: unparsable request target');
  }
}

export function createHttpHandler(deps: HttpDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const head = req.method === 'HEAD';
    const respond = async (): Promise<void> => {
      const url = parseUrl(req.url);
      const path = url.pathname;
      if (path.startsWith('/admin/')) return admin(req, res, path.slice('/admin/'.length), deps);
      cors(res);
      if (req.method === 'OPTIONS') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.method !== 'GET' && !head) throw new HttpError(405, 'method not allowed');
      if (path === '/health') {
        if (deps.isPaused()) return json(res, 503, { status: 'paused' });
        return json(res, 200, { status: 'ok', issuer: deps.issuer });
      }
      if (path === '/.well-known/aun-gateway') {
        return json(res, 200, { gateways: [{ url: deps.gatewayUrl(req.headers.host), priority: 1 }] });
      }
      if (path === '/pki/chain') return send(res, 200, 'application/x-pem-file', deps.chainPem(), head);
      if (path === '/pki/root.crt') return send(res, 200, 'application/x-pem-file', deps.rootPem, head);
      if (path === '/pki/crl.json') return json(res, 200, deps.revocation.crl());
      if (path.startsWith('/pki/ocsp/')) return json(res, 200, deps.revocation.ocsp(path.slice('/pki/ocsp/'.length, '/pki/ocsp/'.length + 160)));
      if (path.startsWith('/pki/cert/')) {
        const aid = decodeAid(path.slice('/pki/cert/'.length));
        // The current certificate first, then those a renewal or a rekey replaced (a fingerprint
        // in an older message names one of them).
        const wanted = url.searchParams.get('cert_fingerprint');
        let registered = false;
        for (const pem of deps.agentCerts(aid)) {
          registered = true;
          if (!wanted || fingerprintMatches(wanted, pem)) return send(res, 200, 'application/x-pem-file', pem, head);
        }
        if (!registered) return send(res, 404, 'text/plain; charset=utf-8', `not registered: ${quote(aid)}\n`, head);
        return send(res, 404, 'text/plain; charset=utf-8', 'no certificate with that fingerprint\n', head);
      }
      throw new HttpError(404, 'not found');
    };
    respond().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) json(res, status, { error: err instanceof HttpError ? err.message : 'internal error' });
      else res.end();
    });
  };
}
