// A small AUN client written from spec/protocol.md alone, independent of the gateway's code, used
// to drive the dev gateway over real WebSockets: short pre-auth RPCs, two-phase login, the long
// connection, client signatures and event collection.

import { createHash, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import WebSocket from 'ws';
import { stableJson } from '../../protocol/canonical.ts';

export interface RpcErrorBody { code: number; message: string; data?: unknown }

export class RpcFailure extends Error {
  constructor(readonly method: string, readonly body: RpcErrorBody) {
    super(`${method} failed: ${body.code} ${body.message}`);
  }
}

type Frame = Record<string, unknown>;

/** GET text. `ca` here and below: PEM of the only root trusted for https:// and wss:// (else Node's usual trust). */
export function getText(url: string, ca?: string): Promise<string> {
  if (!ca) return fetch(url).then((r) => r.text());
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Opens a socket and resolves with it and the challenge frame (the first frame). */
export function openSocket(url: string, ca?: string): Promise<{ ws: WebSocket; challenge: Frame; frames: Frame[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ca ? { ca } : undefined);
    const frames: Frame[] = [];
    let challenge: Frame | null = null;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (!challenge) {
        challenge = frame;
        resolve({ ws, challenge, frames });
      } else frames.push(frame);
    });
    ws.once('error', reject);
    ws.once('close', (code) => { if (!challenge) reject(new Error(`closed before challenge: ${code}`)); });
  });
}

/** Open → challenge → one request → one response → close (spec §0.2). */
export async function shortRpc<R = Record<string, unknown>>(url: string, method: string, params: unknown, ca?: string): Promise<R> {
  const { ws, frames } = await openSocket(url, ca);
  try {
    const response = await new Promise<Frame>((resolve, reject) => {
      const check = () => { if (frames.length) resolve(frames.shift()!); };
      ws.on('message', check);
      ws.once('close', (code) => reject(new Error(`closed before response: ${code}`)));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: `pre-${method}`, method, params }));
      check();
    });
    if (response.error) throw new RpcFailure(method, response.error as RpcErrorBody);
    return response.result as R;
  } finally {
    ws.close();
  }
}

export function derB64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).toString('base64');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function pemDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

export function splitPems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export class Identity {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  cert = '';
  accessToken = '';
  refreshToken = '';

  constructor(readonly aid: string) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  get spkiB64(): string {
    return derB64(this.publicKey);
  }

  get certFingerprint(): string {
    return 'sha256:' + sha256Hex(pemDer(this.cert));
  }

  signDer(text: string | Uint8Array): string {
    return sign('sha256', typeof text === 'string' ? Buffer.from(text) : text, { key: this.privateKey, dsaEncoding: 'der' }).toString('base64');
  }

  signRaw(data: Uint8Array): string {
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
  }

  async register(url: string, ca?: string): Promise<void> {
    const r = await shortRpc<{ cert: string }>(url, 'auth.create_aid', { aid: this.aid, public_key: this.spkiB64, curve: 'P-256' }, ca);
    this.cert = r.cert;
  }

  /** Two-phase login, checking the auth server's signature and certificate chain like an SDK. */
  async login(url: string, httpUrl: string, rootPem: string, ca?: string): Promise<Record<string, unknown>> {
    const clientNonce = randomBytes(12).toString('base64');
    const l1 = await shortRpc<{ request_id: string; nonce: string; client_nonce_signature: string; auth_cert: string }>(
      url, 'auth.aid_login1', { aid: this.aid, cert: this.cert, client_nonce: clientNonce }, ca);
    await verifyAuthServer(l1.auth_cert, l1.client_nonce_signature, clientNonce, httpUrl, rootPem, ca);
    const clientTime = String(Math.floor(Date.now() / 1000));
    const l2 = await shortRpc<{ access_token: string; refresh_token: string; expires_in: number }>(url, 'auth.aid_login2', {
      aid: this.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: clientTime,
      signature: this.signDer(`${l1.nonce}:${clientTime}`),
    }, ca);
    this.accessToken = l2.access_token;
    this.refreshToken = l2.refresh_token;
    return l2;
  }

  clientSignature(method: string, params: Record<string, unknown>): Record<string, string> {
    const hashed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) if (k !== 'client_signature' && !k.startsWith('_')) hashed[k] = v;
    const paramsHash = sha256Hex(stableJson(hashed));
    const timestamp = String(Math.floor(Date.now() / 1000));
    return {
      aid: this.aid,
      cert_fingerprint: this.certFingerprint,
      timestamp,
      params_hash: paramsHash,
      signature: this.signDer(`${method}|${this.aid}|${timestamp}|${paramsHash}`),
    };
  }
}

async function verifyAuthServer(authCertPem: string, sigB64: string, clientNonce: string, httpUrl: string, rootPem: string, ca?: string): Promise<void> {
  const chain = splitPems(await getText(`${httpUrl}/pki/chain`, ca)).map((p) => new X509Certificate(p));
  const root = new X509Certificate(rootPem);
  const auth = new X509Certificate(authCertPem);
  let child = auth;
  for (const ca of chain) {
    if (!ca.ca) throw new Error('chain element is not a CA');
    if (!child.checkIssued(ca) || !child.verify(ca.publicKey)) throw new Error(`chain link broken at ${child.subject}`);
    child = ca;
  }
  if (!child.raw.equals(root.raw)) throw new Error('chain does not end at the trusted root');
  const ok = verify('sha256', Buffer.from(clientNonce, 'utf8'), { key: auth.publicKey, dsaEncoding: 'der' }, Buffer.from(sigB64, 'base64'));
  if (!ok) throw new Error('auth server signature over client_nonce is invalid');
}

export interface ConnectOptions {
  deviceId?: string;
  slotId?: string;
  kind?: 'long' | 'short';
  token?: string;
  ca?: string;
  /** Extra top-level auth.connect params (e.g. push_notify_aid, push_token). */
  extra?: Record<string, unknown>;
}

/** An authenticated connection with request/response matching and an event log. */
export class Session {
  readonly events: Frame[] = [];
  /** Frames that were not JSON (a gateway under fault injection may send them). */
  readonly unparsed: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  /** The auth.connect result (hello-ok). */
  hello: Record<string, unknown> = {};
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (f: Frame) => void }>();
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket, readonly identity: Identity, readonly challenge: Frame, backlog: Frame[]) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve(code);
      });
    });
    ws.on('message', (data) => {
      const text = data.toString();
      try {
        this.route(JSON.parse(text) as Frame);
      } catch {
        this.unparsed.push(text);
        this.wake();
      }
    });
    for (const f of backlog) this.route(f);
  }

  static async open(url: string, identity: Identity, opts: ConnectOptions = {}): Promise<Session> {
    const { ws, challenge, frames } = await openSocket(url, opts.ca);
    ws.removeAllListeners('message');
    const s = new Session(ws, identity, challenge, frames);
    const params: Record<string, unknown> = {
      nonce: (challenge.params as { nonce: string }).nonce,
      auth: { method: 'kite_token', token: opts.token ?? identity.accessToken },
      protocol: { min: '1.0', max: '1.0' },
      device: { id: opts.deviceId ?? 'dev-1', type: 'sdk' },
      client: { slot_id: opts.slotId ?? 'default', sdk_lang: 'typescript', sdk_version: 'test' },
      delivery_mode: { mode: 'fanout', routing: '', affinity_ttl_ms: 0 },
      capabilities: { e2ee: true, group_e2ee: true },
    };
    if (opts.kind === 'short') params.options = { kind: 'short', short_ttl_ms: 30_000 };
    Object.assign(params, opts.extra);
    s.hello = await s.call('auth.connect', params);
    return s;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  private route(frame: Frame): void {
    if ('id' in frame) {
      const p = this.pending.get(String(frame.id));
      if (p) {
        this.pending.delete(String(frame.id));
        p.resolve(frame);
      }
    } else this.events.push(frame);
    this.wake();
  }

  /** Sends a request and resolves with the whole response frame. */
  request(method: string, params: unknown, id: string | number = `rpc-${this.nextId++}`): Promise<Frame> {
    return new Promise((resolve, reject) => {
      this.pending.set(String(id), { resolve });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }), (err) => { if (err) reject(err); });
    });
  }

  async call<R = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, opts: { sign?: boolean } = {}): Promise<R> {
    const p = opts.sign ? { ...params, client_signature: this.identity.clientSignature(method, params) } : params;
    const frame = await this.request(method, p);
    if (frame.error) throw new RpcFailure(method, frame.error as RpcErrorBody);
    return frame.result as R;
  }

  /** Waits until `pred` holds, re-checked on every frame and on close. */
  async until<T>(pred: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(t); this.waiters.delete(done); resolve(); };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  eventsNamed(name: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.method === `event/${name}`).map((e) => e.params as Record<string, unknown>);
  }

  waitEvent(name: string, pred: (p: Record<string, unknown>) => boolean = () => true, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return this.until(() => this.eventsNamed(name).find(pred), timeoutMs, `event ${name}`);
  }

  close(): void {
    this.ws.close();
  }
}

/** SPK fields for put_peer_pk / put_group_pk, signed raw r‖s by the identity key (spec §7). */
export function makeSpk(identity: Identity, keySource: 'peer_device_prekey' | 'group_device_prekey' = 'peer_device_prekey') {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spkDer = pair.publicKey.export({ format: 'der', type: 'spki' });
  const spkId = 'sha256:' + sha256Hex(spkDer).slice(0, 16);
  const ts = Math.floor(Date.now() / 1000);
  const signature = identity.signRaw(Buffer.concat([spkDer, Buffer.from(spkId), Buffer.from(String(ts))]));
  return {
    privateKey: pair.privateKey,
    fields: { key_source: keySource, spk_id: spkId, spk_pk: spkDer.toString('base64'), spk_signature: signature, spk_timestamp: ts },
  };
}

// ---- beyond the basics (spec groups-and-more.md), written from the digest alone ----

/** Canonical JSON for the plain values the tests index (objects, arrays, strings, integers, booleans, null). */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical(o[k])).join(',') + '}';
}

/** A signed `group.index` (§3.13) over `values` (key → setting value), as the browser SDK builds it. */
export function signedGroupIndex(signer: Identity, groupAid: string, values: Record<string, unknown>, lastModified = Date.now()): { body: string; meta: Record<string, unknown>; entries: Record<string, unknown>[]; etag: string } {
  const entries = Object.keys(values).sort().map((key) => ({ etag: `"sha256:${sha256Hex(canonical(values[key]))}"`, key, last_modified: lastModified, source: 'db' }));
  const entryText = entries.map((e) => canonical(e) + '\n').join('');
  const hex = sha256Hex(entryText);
  const meta: Record<string, unknown> = {
    type: 'index_meta', group_aid: groupAid, etag: `"sha256:${hex}"`, last_modified: lastModified, schema: 'aun.group.index.v1',
    body_hash: `sha256:${hex}`, signed_by: signer.aid, sig_alg: 'ECDSA-P256-SHA256',
  };
  meta.signature = signer.signDer(canonical(meta) + '\n' + entryText);
  return { body: canonical(meta) + '\n' + entryText, meta, entries, etag: meta.etag as string };
}

/**
 * A V2 envelope of the right shape for routing checks (§5: the gateway never decrypts): the
 * ciphertext fields are random, the aad names the sender, its device and the message id.
 */
export function opaqueEnvelope(type: 'e2ee.p2p_encrypted' | 'e2ee.group_encrypted', aad: Record<string, unknown>): Record<string, unknown> {
  const b64 = (n: number) => randomBytes(n).toString('base64');
  return {
    type, version: 'v2', nonce: b64(12), ciphertext: b64(32), tag: b64(16), sender_signature: b64(64), sender_session_pk: b64(65),
    recipients_digest: b64(32), aad, recipients: [],
  };
}

/** Sends a JSON-RPC notification (no id), e.g. `notification/route` (§4). */
export function notify(session: Session, method: string, params: Record<string, unknown>): void {
  session.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
}

/** GET a JSON document. */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as T };
}
