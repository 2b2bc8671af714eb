// The push agent's AUN connection: an ordinary client AID. Registers (idempotent), logs in with
// the two-phase login, keeps one long connection (heartbeat, reconnect with backoff, a fresh
// login each time) and hands `event/push.offline_message` to the agent.

import { X509Certificate, randomBytes, sign, verify } from 'node:crypto';
import WebSocket from 'ws';
import type { OfflinePushBatch } from '../protocol/events.ts';
import type { ConnectParams } from '../protocol/methods.ts';
import type { AgentState } from './state.ts';

type Frame = { id?: string; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { code: number; message: string } };

export class AunRpcError extends Error {
  override name = 'AunRpcError';
  constructor(readonly method: string, readonly code: number, message: string) {
    super(`${method} failed: ${code} ${message}`);
  }
}

export interface AunLinkOptions {
  /** ws:// or wss:// URL of the gateway. */
  url: string;
  /** The gateway's HTTP base, for /pki/chain when `rootPem` is given. */
  httpUrl: string;
  /** Root to check the auth server's signature against; without it the login trusts the socket. */
  rootPem?: string;
  onBatch(batch: OfflinePushBatch): void;
  log(line: string): void;
}

const RPC_TIMEOUT_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;

function request(ws: WebSocket, method: string, params: object, pending: Map<string, (f: Frame) => void>, id: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${method}: no answer in ${RPC_TIMEOUT_MS} ms`)); }, RPC_TIMEOUT_MS);
    pending.set(id, (f) => {
      clearTimeout(timer);
      if (f.error) reject(new AunRpcError(method, f.error.code, f.error.message));
      else resolve(f.result);
    });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  });
}

/** A socket with its challenge nonce and request matching. */
async function openSocket(url: string, onEvent: (f: Frame) => void): Promise<{ ws: WebSocket; nonce: string; call: (m: string, p: object) => Promise<unknown> }> {
  const ws = new WebSocket(url);
  const pending = new Map<string, (f: Frame) => void>();
  let next = 0;
  const nonce = await new Promise<string>((resolve, reject) => {
    let challenged = false;
    ws.on('message', (data) => {
      let f: Frame;
      try { f = JSON.parse(data.toString()) as Frame; } catch { return; }
      if (!challenged) {
        challenged = true;
        resolve(String(f.params?.nonce ?? ''));
        return;
      }
      if (f.id !== undefined) {
        const p = pending.get(String(f.id));
        pending.delete(String(f.id));
        p?.(f);
      } else onEvent(f);
    });
    // Errors after the challenge end in 'close', which the owner of the socket handles.
    ws.on('error', (err) => reject(err));
    ws.once('close', () => {
      if (!challenged) reject(new Error('gateway closed the socket before the challenge'));
      for (const p of pending.values()) p({ error: { code: -1, message: 'socket closed' } });
      pending.clear();
    });
  });
  return { ws, nonce, call: (m, p) => request(ws, m, p, pending, `pa-${++next}`) };
}

async function shortCall(url: string, method: string, params: object): Promise<Record<string, unknown>> {
  const s = await openSocket(url, () => {});
  try {
    return await s.call(method, params) as Record<string, unknown>;
  } finally {
    s.ws.close();
  }
}

export class AunLink {
  private ws: WebSocket | null = null;
  private stopped = false;
  private backoff = 500;
  private timer: NodeJS.Timeout | null = null;
  private callFn: ((m: string, p: object) => Promise<unknown>) | null = null;
  /** Resolves once the first long connection is up. */
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly state: AgentState, private readonly opts: AunLinkOptions) {
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }

  start(): void {
    void this.connectLoop();
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.callFn !== null;
  }

  call(method: string, params: object): Promise<unknown> {
    if (!this.callFn) return Promise.reject(new Error(`${method}: not connected to the gateway`));
    return this.callFn(method, params);
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }

  private async connectLoop(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connectOnce();
      this.backoff = 500;
    } catch (err) {
      this.opts.log(`connect failed: ${(err as Error).message}; retry in ${this.backoff} ms`);
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.connectLoop(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  private async login(): Promise<string> {
    const { url } = this.opts;
    const spki = this.state.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const created = await shortCall(url, 'auth.create_aid', { aid: this.state.aid, public_key: spki, curve: 'P-256' });
    if (typeof created.cert === 'string' && created.cert !== this.state.cert) this.state.setCert(created.cert);
    const clientNonce = randomBytes(12).toString('base64');
    const l1 = await shortCall(url, 'auth.aid_login1', { aid: this.state.aid, cert: this.state.cert, client_nonce: clientNonce });
    if (this.opts.rootPem) await this.checkAuthServer(String(l1.auth_cert), String(l1.client_nonce_signature), clientNonce);
    const clientTime = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(`${String(l1.nonce)}:${clientTime}`), { key: this.state.privateKey, dsaEncoding: 'der' }).toString('base64');
    const l2 = await shortCall(url, 'auth.aid_login2', { aid: this.state.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: clientTime, signature });
    return String(l2.access_token ?? l2.token);
  }

  /** The auth server signed our nonce with a certificate that chains to the trusted root. */
  private async checkAuthServer(certPem: string, sigB64: string, clientNonce: string): Promise<void> {
    const bundle = await (await fetch(`${this.opts.httpUrl}/pki/chain`)).text();
    const chain = (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
    const root = new X509Certificate(this.opts.rootPem!);
    let child = new X509Certificate(certPem);
    const auth = child;
    for (const ca of chain) {
      if (!ca.ca || !child.checkIssued(ca) || !child.verify(ca.publicKey)) throw new Error(`auth server chain broken at ${child.subject}`);
      child = ca;
    }
    if (!child.raw.equals(root.raw)) throw new Error('auth server chain does not end at the trusted root');
    if (!verify('sha256', Buffer.from(clientNonce), { key: auth.publicKey, dsaEncoding: 'der' }, Buffer.from(sigB64, 'base64'))) {
      throw new Error('auth server signature over our nonce is invalid');
    }
  }

  private async connectOnce(): Promise<void> {
    const token = await this.login();
    const s = await openSocket(this.opts.url, (f) => {
      if (f.method === 'event/push.offline_message' && f.params) this.opts.onBatch(f.params as unknown as OfflinePushBatch);
    });
    const params: ConnectParams = {
      nonce: s.nonce,
      auth: { method: 'kite_token', token },
      protocol: { min: '1.0', max: '1.0' },
      device: { id: 'push-agent', type: 'server' },
      client: { slot_id: 'default', sdk_lang: 'node', sdk_version: 'aun-worker-push-agent' },
      delivery_mode: { mode: 'fanout' },
      capabilities: {},
    };
    let hello: { heartbeat_interval?: number };
    try {
      hello = await s.call('auth.connect', params) as { heartbeat_interval?: number };
    } catch (err) {
      s.ws.close();
      throw err;
    }
    this.ws = s.ws;
    this.callFn = s.call;
    this.opts.log(`connected to ${this.opts.url} as ${this.state.aid}`);
    const beat = setInterval(() => {
      s.call('meta.ping', {}).catch(() => s.ws.terminate());
    }, Math.max(5, hello.heartbeat_interval ?? 30) * 1000);
    beat.unref();
    s.ws.once('close', (code) => {
      clearInterval(beat);
      if (this.ws === s.ws) { this.ws = null; this.callFn = null; }
      if (!this.stopped) {
        this.opts.log(`gateway connection closed (${code}); reconnecting`);
        this.retry();
      }
    });
    this.markReady();
  }
}
