// auth.renew_cert and auth.rekey (spec protocol §4.3): short RPCs that spend a fresh
// auth.aid_login1 nonce. A renewal gives the AID's key a new certificate and leaves the old one
// good; a rekey moves the AID to a new key, revokes the old certificate and spends the refresh
// tokens its logins were granted. Both as an attacker would try them too: a spent or foreign
// nonce, a signature by another key or over other text, a rekey to a key that is not P-256.

import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Identity, Session, shortRpc } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

interface Issued { aid: string; cert: string; cert_pem: string; ca_cert: string; curve: string; cert_sn: string }

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();
const spkiOf = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

describe('auth.renew_cert and auth.rekey', () => {
  let gw: Gateway;
  beforeAll(async () => { gw = await testGateway(); });
  afterAll(() => gw.close());

  const login1 = (id: Identity, cert = id.cert) =>
    shortRpc<{ request_id: string; nonce: string }>(gw.url, 'auth.aid_login1', { aid: id.aid, cert, client_nonce: `n-${Math.random()}` });
  const ocsp = async (serial: string) => ((await (await fetch(`${gw.httpUrl}/pki/ocsp/${serial}`)).json()) as { status: string }).status;
  const certAt = async (aid: string, fingerprint?: string) => {
    const res = await fetch(`${gw.httpUrl}/pki/cert/${aid}${fingerprint ? `?cert_fingerprint=${fingerprint}` : ''}`);
    return res.status === 200 ? res.text() : res.status;
  };
  const renew = async (id: Identity) => {
    const l1 = await login1(id);
    return shortRpc<Issued>(gw.url, 'auth.renew_cert', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, signature: id.signDer(l1.nonce) });
  };

  it('a renewal issues a new certificate for the same key; the old one stays good and is still served by fingerprint', async () => {
    const id = await loggedIn(gw, 'renew');
    const old = id.cert;
    const oldFingerprint = id.certFingerprint;
    const r = await renew(id);
    expect(r.aid).toBe(id.aid);
    expect(r.cert).toBe(r.cert_pem);
    expect(r.curve).toBe('P-256');
    expect(r.cert_sn).toBe(serialOf(r.cert));
    expect(serialOf(r.cert)).not.toBe(serialOf(old));
    expect(spkiOf(r.cert)).toBe(id.spkiB64);
    expect(new X509Certificate(r.cert).subject).toBe(`CN=${id.aid}`);
    expect(new X509Certificate(r.cert).verify(new X509Certificate(r.ca_cert).publicKey)).toBe(true);
    expect(await ocsp(serialOf(r.cert))).toBe('good');
    expect(await ocsp(serialOf(old))).toBe('good');
    // The current certificate is the new one; the old one is found by its fingerprint.
    expect(await certAt(id.aid)).toBe(r.cert);
    expect(await certAt(id.aid, oldFingerprint)).toBe(old);

    // A device still holding the old certificate signs its calls naming it: the same key signed.
    const stale = await Session.open(gw.url, id);
    const signed = { to: id.aid, payload: { type: 'text', text: 'after the renewal' }, message_id: `m-${Date.now()}`, timestamp: Date.now(), encrypted: false };
    expect(await stale.call('message.send', signed, { sign: true })).toMatchObject({ message_id: signed.message_id });
    stale.close();
    // It logs in too, and is handed the current one.
    const l2 = await id.login(gw.url, gw.httpUrl, gw.rootPem);
    expect(l2.active_cert).toBe(r.cert);
    id.cert = r.cert;
    const again = await id.login(gw.url, gw.httpUrl, gw.rootPem);
    expect(again.active_cert).toBeUndefined();
    const s = await Session.open(gw.url, id);
    expect(await s.call('meta.ping')).toMatchObject({ pong: true });
    s.close();
  });

  it('a renewal needs a nonce of its own AID, once, and a signature by its key over that nonce', async () => {
    const id = await loggedIn(gw, 'renew2');
    const other = await loggedIn(gw, 'renew3');
    const l1 = await login1(id);
    const call = (params: Record<string, unknown>) => shortRpc(gw.url, 'auth.renew_cert', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, signature: id.signDer(l1.nonce), ...params });
    // Another AID's key, or other text: refused, and the nonce is spent.
    await expect(call({ signature: other.signDer(l1.nonce) })).rejects.toMatchObject({ body: { code: -32003 } });
    await expect(call({})).rejects.toMatchObject({ body: { code: -32002 } });
    // Someone else's nonce for this AID.
    const theirs = await login1(other);
    await expect(shortRpc(gw.url, 'auth.renew_cert', { aid: id.aid, request_id: theirs.request_id, nonce: theirs.nonce, signature: id.signDer(theirs.nonce) }))
      .rejects.toMatchObject({ body: { code: -32002 } });
    const l1b = await login1(id);
    await expect(shortRpc(gw.url, 'auth.renew_cert', { aid: id.aid, request_id: l1b.request_id, nonce: l1b.nonce, signature: id.signDer(`${l1b.nonce}x`) }))
      .rejects.toMatchObject({ body: { code: -32003 } });
    // Nothing was issued by any of them.
    expect(await certAt(id.aid)).toBe(id.cert);
    // A good one works once; its replay is refused.
    const l1c = await login1(id);
    const params = { aid: id.aid, request_id: l1c.request_id, nonce: l1c.nonce, signature: id.signDer(l1c.nonce) };
    await shortRpc(gw.url, 'auth.renew_cert', params);
    await expect(shortRpc(gw.url, 'auth.renew_cert', params)).rejects.toMatchObject({ body: { code: -32002 } });
  });

  it('a rekey moves the AID to the new key: the old certificate is revoked, its key and refresh tokens open nothing, the new key logs in', async () => {
    const id = await loggedIn(gw, 'rekey');
    const old = id.cert;
    const next = new Identity(id.aid);
    const l1 = await login1(id);
    const r = await shortRpc<Issued>(gw.url, 'auth.rekey', {
      aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, new_public_key: next.spkiB64, signature: id.signDer(l1.nonce + next.spkiB64),
    });
    expect(spkiOf(r.cert)).toBe(next.spkiB64);
    expect(new X509Certificate(r.cert).subject).toBe(`CN=${id.aid}`);
    expect(await ocsp(serialOf(r.cert))).toBe('good');
    expect(await ocsp(serialOf(old))).toBe('revoked');
    const crl = (await (await fetch(`${gw.httpUrl}/pki/crl.json`)).json()) as { revoked_serials: string[] };
    expect(crl.revoked_serials).toContain(serialOf(old));
    expect(await certAt(id.aid)).toBe(r.cert);

    // The old key: its certificate is refused at login1, and without it login2's signature fails.
    await expect(login1(id)).rejects.toMatchObject({ body: { code: -32002 } });
    const bare = await shortRpc<{ request_id: string; nonce: string }>(gw.url, 'auth.aid_login1', { aid: id.aid, client_nonce: 'n-old' });
    const t = String(Math.floor(Date.now() / 1000));
    await expect(shortRpc(gw.url, 'auth.aid_login2', { aid: id.aid, request_id: bare.request_id, nonce: bare.nonce, client_time: t, signature: id.signDer(`${bare.nonce}:${t}`) }))
      .rejects.toMatchObject({ body: { code: -32003 } });
    expect(await shortRpc(gw.url, 'auth.refresh_token', { refresh_token: id.refreshToken })).toMatchObject({ success: false, relogin_required: true });

    // The new key logs in and connects.
    next.cert = r.cert;
    await next.login(gw.url, gw.httpUrl, gw.rootPem);
    const s = await Session.open(gw.url, next);
    expect(await s.call('meta.ping')).toMatchObject({ pong: true });
    s.close();
  });

  it('two rekeys at once: one wins, the other is refused, and the AID has one current certificate', async () => {
    const id = await loggedIn(gw, 'rekey3');
    const keys = [new Identity(id.aid), new Identity(id.aid)];
    const nonces = await Promise.all(keys.map(() => login1(id)));
    const outcomes = await Promise.allSettled(keys.map((k, i) => shortRpc<Issued>(gw.url, 'auth.rekey', {
      aid: id.aid, request_id: nonces[i]!.request_id, nonce: nonces[i]!.nonce, new_public_key: k.spkiB64, signature: id.signDer(nonces[i]!.nonce + k.spkiB64),
    })));
    const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as { body?: { code?: number } }] : []));
    expect(won).toHaveLength(1);
    // Refused as a nonce gone stale (-32002) when both were under way together, or as a signature
    // by a key that is no longer the AID's (-32003) when the second came after the first.
    expect(lost).toHaveLength(1);
    expect([-32002, -32003]).toContain(lost[0]!.body?.code);
    expect(await certAt(id.aid)).toBe(won[0]!.cert);
    expect(await ocsp(serialOf(id.cert))).toBe('revoked');
  });

  it('a rekey is refused for a signature over the nonce alone, another key, a key that is not P-256, or the current key', async () => {
    const id = await loggedIn(gw, 'rekey2');
    const next = new Identity(id.aid);
    const attempt = async (newKey: string, sign: (nonce: string) => string) => {
      const l1 = await login1(id);
      return shortRpc(gw.url, 'auth.rekey', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, new_public_key: newKey, signature: sign(l1.nonce) });
    };
    await expect(attempt(next.spkiB64, (n) => id.signDer(n))).rejects.toMatchObject({ body: { code: -32003 } });
    await expect(attempt(next.spkiB64, (n) => next.signDer(n + next.spkiB64))).rejects.toMatchObject({ body: { code: -32003 } });
    const notP256 = Buffer.from(next.spkiB64, 'base64').subarray(0, 60).toString('base64');
    await expect(attempt(notP256, (n) => id.signDer(n + notP256))).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(attempt(id.spkiB64, (n) => id.signDer(n + id.spkiB64))).rejects.toMatchObject({ body: { code: -32602 } });
    // None of them changed anything: the AID's certificate is the one it had, and it is good.
    expect(await certAt(id.aid)).toBe(id.cert);
    expect(await ocsp(serialOf(id.cert))).toBe('good');
    await id.login(gw.url, gw.httpUrl, gw.rootPem);
  });
});

describe('login2 past half a certificate\'s life', () => {
  const DAY = 86_400_000;
  let offset = 0;
  let gw: Gateway;
  beforeAll(async () => { gw = await testGateway({ now: () => Date.now() + offset }); });
  afterAll(() => gw.close());

  it('renews it and answers it as new_cert, once; the old one stays good', async () => {
    const id = await loggedIn(gw, 'halflife');
    const old = id.cert;
    expect((await id.login(gw.url, gw.httpUrl, gw.rootPem)).new_cert).toBeUndefined();
    // 200 days on: the year-long certificate is past half its life.
    offset = 200 * DAY;
    const l2 = await id.login(gw.url, gw.httpUrl, gw.rootPem);
    const renewed = l2.new_cert as string;
    expect(renewed).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(serialOf(renewed)).not.toBe(serialOf(old));
    expect(spkiOf(renewed)).toBe(id.spkiB64);
    expect(Date.parse(new X509Certificate(renewed).validTo)).toBeGreaterThan(Date.now() + 500 * DAY);
    expect(await (await fetch(`${gw.httpUrl}/pki/cert/${id.aid}`)).text()).toBe(renewed);
    expect(((await (await fetch(`${gw.httpUrl}/pki/ocsp/${serialOf(old)}`)).json()) as { status: string }).status).toBe('good');
    // The client takes it; the next login renews nothing.
    id.cert = renewed;
    const next = await id.login(gw.url, gw.httpUrl, gw.rootPem);
    expect(next.new_cert).toBeUndefined();
    expect(next.active_cert).toBeUndefined();
  });
});
