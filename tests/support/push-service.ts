// A test Web Push service on loopback: plays the browser vendor's push service (RFC 8030) and the
// browser's key holder. It hands out subscriptions with keys made here, records every push it
// receives, checks the VAPID header (RFC 8292) and decrypts the aes128gcm body (RFC 8291).

import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSubscription {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

export interface ReceivedPush {
  endpoint: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The decrypted plaintext (what the browser would hand the service worker's push event). */
  plaintext: string;
  /** The VAPID JWT's claims once its signature checked out against `vapidKey`. */
  vapid: { aud: string; exp: number; sub: string };
  vapidKey: string;
}

interface Keys { ecdh: ReturnType<typeof createECDH>; auth: Buffer }

/** RFC 8291 §3.4 / RFC 8188 for one record. */
export function decryptAes128gcm(body: Buffer, uaPrivate: ReturnType<typeof createECDH>, auth: Buffer): string {
  const salt = body.subarray(0, 16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  const uaPublic = uaPrivate.getPublicKey();
  const secret = uaPrivate.computeSecret(asPublic);
  const ikm = Buffer.from(hkdfSync('sha256', secret, auth, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]), 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('aes128gcm: missing last-record delimiter');
  return padded.subarray(0, end).toString('utf8');
}

/** `vapid t=<jwt>, k=<key>`: checks the ES256 signature with k and returns the claims. */
export function checkVapid(header: string | undefined): { claims: ReceivedPush['vapid']; key: string } {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) throw new Error(`not a vapid Authorization header: ${header}`);
  const [h, p, s] = m[1]!.split('.');
  const point = Buffer.from(m[2]!, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s!, 'base64url'))) throw new Error('VAPID JWT signature is invalid');
  return { claims: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as ReceivedPush['vapid'], key: m[2]! };
}

export class TestPushService {
  readonly received: ReceivedPush[] = [];
  /** Status to answer per endpoint (default 201). */
  readonly statusFor = new Map<string, number>();
  private readonly keys = new Map<string, Keys>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly server: Server, readonly origin: string) {}

  static async start(): Promise<TestPushService> {
    let svc: TestPushService | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => svc!.accept(req.url ?? '/', req.headers, Buffer.concat(chunks), (status) => { res.writeHead(status); res.end(); }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    svc = new TestPushService(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return svc;
  }

  /** A subscription as PushSubscription.toJSON() gives it, with keys this service holds. */
  subscribe(): FakeSubscription {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const endpoint = `${this.origin}/push/${randomBytes(8).toString('hex')}`;
    this.keys.set(endpoint, { ecdh, auth });
    return { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<ReceivedPush> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`test push service: timed out waiting for push #${n} (have ${this.received.length})`);
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(t); this.waiters.delete(done); resolve(); };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
    return this.received[n - 1]!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(path: string, headers: ReceivedPush['headers'], body: Buffer, answer: (status: number) => void): void {
    const endpoint = this.origin + path;
    const keys = this.keys.get(endpoint);
    if (!keys) return answer(404);
    try {
      const { claims, key } = checkVapid(headers.authorization as string | undefined);
      if (headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${String(headers['content-encoding'])}`);
      const plaintext = decryptAes128gcm(body, keys.ecdh, keys.auth);
      this.received.push({ endpoint, headers, body, plaintext, vapid: claims, vapidKey: key });
      answer(this.statusFor.get(endpoint) ?? 201);
    } catch (err) {
      this.received.push({ endpoint, headers, body, plaintext: `ERROR ${(err as Error).message}`, vapid: { aud: '', exp: 0, sub: '' }, vapidKey: '' });
      answer(400);
    }
    for (const w of this.waiters) w();
  }
}
