import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Identity, RpcFailure, Session, derB64, openSocket, shortRpc, splitPems } from '../support/aun-client.ts';
import { loggedIn, newAid, online, stats, testGateway } from '../support/gateway.ts';

let gw: Gateway;
let clockOffsetMs = 0;
beforeAll(async () => {
  gw = await testGateway({ tokenTtl: 600, now: () => Date.now() + clockOffsetMs });
});
afterAll(() => gw.close());

describe('HTTP endpoints', () => {
  it('answers /health and discovery with CORS headers', async () => {
    const health = await fetch(`${gw.httpUrl}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('access-control-allow-origin')).toBe('*');
    const wk = await (await fetch(`${gw.httpUrl}/.well-known/aun-gateway`)).json() as { gateways: { url: string; priority: number }[] };
    expect(wk.gateways).toEqual([{ url: `ws://127.0.0.1:${gw.port}/ws`, priority: 1 }]);
    const preflight = await fetch(`${gw.httpUrl}/pki/chain`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
  });

  it('serves the issuer CA then the root, both CAs, the root self-signed', async () => {
    const pems = splitPems(await (await fetch(`${gw.httpUrl}/pki/chain`)).text());
    expect(pems).toHaveLength(2);
    const [issuer, root] = pems.map((p) => new X509Certificate(p));
    expect(issuer!.ca && root!.ca).toBe(true);
    expect(issuer!.subject).toContain(`CN=${gw.config.issuer}`);
    expect(issuer!.verify(root!.publicKey)).toBe(true);
    expect(root!.verify(root!.publicKey)).toBe(true);
    expect(root!.raw.equals(new X509Certificate(gw.rootPem).raw)).toBe(true);
  });

  it('/pki/cert/{aid} is 404 before registration and the agent certificate after', async () => {
    const id = new Identity(newAid());
    expect((await fetch(`${gw.httpUrl}/pki/cert/${id.aid}`)).status).toBe(404);
    expect((await fetch(`${gw.httpUrl}/pki/cert/${id.aid}`, { method: 'HEAD' })).status).toBe(404);
    await id.register(gw.url);
    const res = await fetch(`${gw.httpUrl}/pki/cert/${id.aid}`);
    expect(res.status).toBe(200);
    const cert = new X509Certificate(await res.text());
    expect(cert.subject).toBe(`CN=${id.aid}`);
    expect(derB64(cert.publicKey)).toBe(id.spkiB64);
    expect((await fetch(`${gw.httpUrl}/pki/cert/${id.aid}?cert_fingerprint=${id.certFingerprint}`)).status).toBe(200);
    expect((await fetch(`${gw.httpUrl}/pki/cert/${id.aid}?cert_fingerprint=sha256:${'0'.repeat(64)}`)).status).toBe(404);
  });
});

describe('auth.create_aid', () => {
  it('issues a P-256 certificate for the key, chained to the root', async () => {
    const id = new Identity(newAid());
    const r = await shortRpc<{ aid: string; cert: string; ca_cert: string; curve: string }>(gw.url, 'auth.create_aid', { aid: id.aid, public_key: id.spkiB64, curve: 'P-256' });
    expect(r.aid).toBe(id.aid);
    expect(r.curve).toBe('P-256');
    const cert = new X509Certificate(r.cert);
    expect(cert.subject).toBe(`CN=${id.aid}`);
    expect(cert.ca).toBe(false);
    expect(derB64(cert.publicKey)).toBe(id.spkiB64);
    expect(cert.verify(new X509Certificate(r.ca_cert).publicKey)).toBe(true);
  });

  it('is idempotent for the same key and refuses another key for a taken AID', async () => {
    const id = await loggedIn(gw);
    const again = await shortRpc<{ cert: string }>(gw.url, 'auth.create_aid', { aid: id.aid, public_key: id.spkiB64 });
    expect(again.cert).toBe(id.cert);
    const other = new Identity(id.aid);
    await expect(shortRpc(gw.url, 'auth.create_aid', { aid: id.aid, public_key: other.spkiB64 })).rejects.toMatchObject({ body: { code: -32052 } });
  });

  it('concurrent creates of one AID: the same key gets one certificate, another key a typed conflict, never a raw SQLite error', async () => {
    const id = new Identity(newAid());
    const same = await Promise.all(Array.from({ length: 5 }, () => shortRpc<{ cert: string }>(gw.url, 'auth.create_aid', { aid: id.aid, public_key: id.spkiB64 })));
    expect(new Set(same.map((r) => r.cert)).size).toBe(1);
    const other = new Identity(newAid());
    const keys = [other.spkiB64, ...Array.from({ length: 4 }, () => new Identity(other.aid).spkiB64)];
    const raced = await Promise.allSettled(keys.map((k) => shortRpc(gw.url, 'auth.create_aid', { aid: other.aid, public_key: k })));
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of raced) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ body: { code: -32052 } });
    }
  });

  it('rejects bad AIDs and keys with -32602', async () => {
    const key = new Identity('x').spkiB64;
    for (const aid of ['UPPER.aun.local', 'abc.aun.local', 'guestname.aun.local', `name${Date.now()}.other.example`, 'no-issuer']) {
      await expect(shortRpc(gw.url, 'auth.create_aid', { aid, public_key: key })).rejects.toMatchObject({ body: { code: -32602 } });
    }
    await expect(shortRpc(gw.url, 'auth.create_aid', { aid: newAid(), public_key: 'AAAA' })).rejects.toMatchObject({ body: { code: -32602 } });
  });
});

describe('two-phase login', () => {
  it('signs the client nonce with a chain-verified auth certificate and grants tokens', async () => {
    const before = (await stats(gw)).logins as number;
    const id = new Identity(newAid());
    await id.register(gw.url);
    const grant = await id.login(gw.url, gw.httpUrl, gw.rootPem);
    expect(grant).toMatchObject({ status: 'ok', aid: id.aid, expires_in: 600 });
    expect(typeof grant.access_token).toBe('string');
    expect(grant.token).toBe(grant.access_token);
    expect(String(grant.refresh_token)).toMatch(/^rt-/);
    expect((await stats(gw)).logins).toBe(before + 1);
  });

  async function phase1(id: Identity) {
    return shortRpc<{ request_id: string; nonce: string }>(gw.url, 'auth.aid_login1', { aid: id.aid, client_nonce: 'q3Jz1pX0mB9cN2ka' });
  }

  it('rejects a signature by another key, and a nonce used twice', async () => {
    const id = new Identity(newAid());
    await id.register(gw.url);
    const l1 = await phase1(id);
    const mallory = new Identity(id.aid);
    const t = String(Math.floor(Date.now() / 1000));
    await expect(shortRpc(gw.url, 'auth.aid_login2', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: t, signature: mallory.signDer(`${l1.nonce}:${t}`) }))
      .rejects.toMatchObject({ body: { code: -32003 } });
    // The failed attempt consumed the nonce: even the right signature is refused now.
    await expect(shortRpc(gw.url, 'auth.aid_login2', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: t, signature: id.signDer(`${l1.nonce}:${t}`) }))
      .rejects.toMatchObject({ body: { code: -32002 } });
  });

  it('accepts a Python-style float client_time signed verbatim', async () => {
    const id = new Identity(newAid());
    await id.register(gw.url);
    const l1 = await phase1(id);
    const t = `${Date.now() / 1000}`;
    const r = await shortRpc<{ status: string }>(gw.url, 'auth.aid_login2', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: t, signature: id.signDer(`${l1.nonce}:${t}`) });
    expect(r.status).toBe('ok');
  });

  it('refuses login1 for an unknown AID or a foreign certificate', async () => {
    await expect(shortRpc(gw.url, 'auth.aid_login1', { aid: newAid(), client_nonce: 'x' })).rejects.toMatchObject({ body: { code: -32008 } });
    const a = await loggedIn(gw);
    const b = await loggedIn(gw);
    await expect(shortRpc(gw.url, 'auth.aid_login1', { aid: a.aid, cert: b.cert, client_nonce: 'x' })).rejects.toMatchObject({ body: { code: -32002 } });
  });
});

describe('auth.refresh_token', () => {
  it('rotates: the new pair works, the old refresh token is dead', async () => {
    const id = await loggedIn(gw);
    const before = (await stats(gw)).refreshes as number;
    const r = await shortRpc<Record<string, unknown>>(gw.url, 'auth.refresh_token', { refresh_token: id.refreshToken, aid: id.aid });
    expect(r).toMatchObject({ success: true, aid: id.aid, refresh_count: 1, relogin_required: false, expires_in: 600 });
    expect(r.refresh_token).not.toBe(id.refreshToken);
    const stale = await shortRpc<Record<string, unknown>>(gw.url, 'auth.refresh_token', { refresh_token: id.refreshToken });
    expect(stale).toMatchObject({ success: false, error: 'invalid_or_expired_refresh_token', relogin_required: true });
    const next = await shortRpc<Record<string, unknown>>(gw.url, 'auth.refresh_token', { refresh_token: r.refresh_token });
    expect(next).toMatchObject({ success: true, refresh_count: 2 });
    expect((await stats(gw)).refreshes).toBe(before + 2);
    const s = await Session.open(gw.url, id, { token: String(next.access_token) });
    expect(s.hello.status).toBe('ok');
    s.close();
  });
});

describe('auth.connect', () => {
  it('answers hello-ok with the identity, the connection and the heartbeat', async () => {
    const s = await online(gw, 'hello', { deviceId: 'dev-a', slotId: 'main' });
    expect(s.challenge).toMatchObject({ jsonrpc: '2.0', method: 'challenge', params: { protocol: { min: '1.0', max: '1.0' }, auth_methods: ['kite_token'] } });
    expect(s.hello).toMatchObject({
      status: 'ok', protocol: '1.0', authenticated: true,
      identity: { aid: s.identity.aid }, connection: { device_id: 'dev-a', slot_id: 'main', kind: 'long' }, heartbeat_interval: 30,
    });
    expect(await s.call('meta.ping')).toMatchObject({ pong: true, heartbeat_interval: 30 });
    s.close();
  });

  it('refuses a bad token (4001) and a bad nonce (4010), and allows another attempt on the socket', async () => {
    const id = await loggedIn(gw);
    const { ws, challenge, frames } = await openSocket(gw.url);
    const nonce = (challenge.params as { nonce: string }).nonce;
    const next = () => new Promise<Record<string, unknown>>((resolve) => {
      const tick = () => (frames.length ? resolve(frames.shift()!) : setTimeout(tick, 5));
      tick();
    });
    const connect = (token: string, n: string) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'c', method: 'auth.connect', params: { nonce: n, auth: { method: 'kite_token', token }, device: { id: 'd1' } } }));
    connect(id.accessToken.slice(0, -4) + 'AAAA', nonce);
    expect(await next()).toMatchObject({ error: { code: 4001 } });
    connect(id.accessToken, 'not-the-nonce');
    expect(await next()).toMatchObject({ error: { code: 4010 } });
    connect(id.accessToken, nonce);
    expect(await next()).toMatchObject({ result: { status: 'ok' } });
    ws.close();
  });

  it('refuses an expired access token', async () => {
    const id = await loggedIn(gw);
    clockOffsetMs = 601_000;
    try {
      await expect(Session.open(gw.url, id)).rejects.toMatchObject({ body: { code: 4001 } });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('requires auth.connect before service methods and answers unknown methods at once', async () => {
    const { ws } = await openSocket(gw.url);
    const s = ws;
    const reply = (method: string) => new Promise<Record<string, unknown>>((resolve) => {
      s.once('message', (d) => resolve(JSON.parse(d.toString())));
      s.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: {} }));
    });
    expect(await reply('message.v2.pull')).toMatchObject({ id: 7, error: { code: -32013 } });
    expect(await reply('no.such.method')).toMatchObject({ id: 7, error: { code: -32601 } });
    s.close();
  });

  it('closes a socket that has not authenticated within the deadline with 4008, and only that one', async () => {
    const quick = await testGateway({ authDeadlineMs: 300 });
    try {
      const pending = await openSocket(quick.url);
      const s = await online(quick, 'deadline');
      const code = await new Promise<number>((resolve) => pending.ws.once('close', resolve));
      expect(code).toBe(4008);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await s.call('meta.ping')).toMatchObject({ pong: true });
      s.close();
    } finally {
      await quick.close();
    }
  });
});

describe('eviction', () => {
  it('a newer long connection on the same (aid, device, slot key) evicts the older with 4015', async () => {
    const id = await loggedIn(gw);
    const first = await Session.open(gw.url, id, { deviceId: 'dev-x', slotId: 'app/tab-1' });
    const otherSlot = await Session.open(gw.url, id, { deviceId: 'dev-x', slotId: 'other' });
    const short = await Session.open(gw.url, id, { deviceId: 'dev-x', slotId: 'app', kind: 'short' });
    expect(first.closeCode).toBeNull();
    const second = await Session.open(gw.url, id, { deviceId: 'dev-x', slotId: 'app:tab-2' });
    const kick = await first.waitEvent('gateway.disconnect');
    expect(kick).toMatchObject({
      code: 4015, reason: 'long_connection_quota_exceeded',
      detail: { aid: id.aid, device_id: 'dev-x', slot_id: 'app/tab-1', quota_kind: 'aid_device_slot', limit: 1, evicted_by: { device_id: 'dev-x' } },
    });
    expect(await first.closed).toBe(4015);
    expect(otherSlot.closeCode).toBeNull();
    expect(short.closeCode).toBeNull();
    expect(await second.call('meta.ping')).toMatchObject({ pong: true });
    const live = (await stats(gw)).connections.filter((c) => c.aid === id.aid);
    expect(live.filter((c) => c.kind === 'long')).toHaveLength(2);
    expect(live.filter((c) => c.kind === 'short')).toHaveLength(1);
    for (const s of [second, otherSlot, short]) s.close();
  });
});

describe('client_signature', () => {
  it('is verified whenever present: a good one passes, a forged one gets -32051', async () => {
    const s = await online(gw);
    expect(await s.call('meta.ping', {}, { sign: true })).toMatchObject({ pong: true });
    const forged = { ...s.identity.clientSignature('meta.ping', {}), signature: new Identity('x').signDer('meta.ping') };
    await expect(s.call('meta.ping', { client_signature: forged })).rejects.toMatchObject({ body: { code: -32051 } });
    const wrongHash = s.identity.clientSignature('meta.ping', { other: 1 });
    await expect(s.call('meta.ping', { client_signature: wrongHash })).rejects.toBeInstanceOf(RpcFailure);
    s.close();
  });
});

describe('auth.logout (sent by the reference SDK on close, undocumented)', () => {
  it('answers success, then closes that socket only with 1000; the token still connects', async () => {
    const id = await loggedIn(gw, 'logout');
    const a = await Session.open(gw.url, id, { deviceId: 'lo-1' });
    const b = await Session.open(gw.url, id, { deviceId: 'lo-2' });
    expect(await a.call('auth.logout')).toEqual({ success: true });
    expect(await a.closed).toBe(1000);
    expect(a.closeReason).toBe('logged out');
    expect(await b.call('meta.ping')).toMatchObject({ pong: true });
    const again = await Session.open(gw.url, id, { deviceId: 'lo-1' });
    expect(await again.call('meta.ping')).toMatchObject({ pong: true });
    for (const s of [b, again]) s.close();
  });
});
