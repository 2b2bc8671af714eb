// The certificate status service (/pki/ocsp/<serial>, spec groups-and-more §6): anyone may ask
// about any serial without logging in, so an unknown serial must cost the gateway only the
// certificates issued since the last look, not a re-read of every certificate it ever issued.
// And revocation means something: a revoked certificate ends its sessions and opens no new one.

import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMORY, openDatabase } from '../../gateway/db.ts';
import { loadPki } from '../../gateway/pki.ts';
import { Revocation } from '../../gateway/revocation.ts';
import type { Gateway } from '../../gateway/server.ts';
import { Session, shortRpc } from '../support/aun-client.ts';
import { adminPost, loggedIn, online, testGateway } from '../support/gateway.ts';

describe('Revocation', () => {
  it('an unknown serial reads only the certificates issued since the last look', async () => {
    const db = openDatabase(MEMORY);
    const pki = await loadPki(db, 'aun.local');
    db.exec('CREATE TABLE IF NOT EXISTS agents (aid TEXT PRIMARY KEY, cert_pem TEXT NOT NULL, public_key TEXT NOT NULL, created_at INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO agents (aid, cert_pem, public_key, created_at) VALUES (?, ?, ?, 0)');
    const issue = async (i: number) => {
      const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
      const pem = await pki.issueAgent(`a${i}.aun.local`, spki);
      insert.run(`a${i}.aun.local`, pem, spki.toString('base64'));
      return new X509Certificate(pem).serialNumber;
    };
    const first = await issue(1);
    const r = new Revocation(db, [], () => Date.now());
    expect(r.status(first)).toBe('good');
    expect(r.status('abc123')).toBe('unknown');
    // Rows already read are not parsed again: made unreadable, they change nothing.
    db.prepare('UPDATE agents SET cert_pem = ?').run('not a certificate');
    expect(r.status('abc124')).toBe('unknown');
    expect(r.status(first)).toBe('good');
    // A certificate issued later is found.
    const later = await issue(2);
    expect(r.status(later)).toBe('good');
    db.close();
  });
});

describe('a revoked certificate authenticates nothing', () => {
  let gw: Gateway;
  beforeAll(async () => { gw = await testGateway(); });
  afterAll(() => gw.close());

  it('its live sessions close (4001), and login1, login2, refresh and connect are refused', async () => {
    const id = await loggedIn(gw, 'revoked');
    const live = await Session.open(gw.url, id);
    // A login half done when the certificate is revoked, to finish afterwards.
    const clientNonce = 'n-' + Date.now();
    const l1 = await shortRpc<{ request_id: string; nonce: string }>(gw.url, 'auth.aid_login1', { aid: id.aid, cert: id.cert, client_nonce: clientNonce });
    const bystander = await online(gw, 'bystander');

    expect((await adminPost(gw, 'revoke', { serial: new X509Certificate(id.cert).serialNumber })).status).toBe(200);
    expect(await live.closed).toBe(4001);
    expect(live.closeReason).toBe('certificate revoked');
    expect(bystander.closeCode).toBeNull();
    expect(await bystander.call('meta.ping')).toMatchObject({ pong: true });

    await expect(shortRpc(gw.url, 'auth.aid_login1', { aid: id.aid, cert: id.cert, client_nonce: clientNonce }))
      .rejects.toMatchObject({ body: { code: -32050 } });
    const clientTime = String(Math.floor(Date.now() / 1000));
    await expect(shortRpc(gw.url, 'auth.aid_login2', { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: clientTime, signature: id.signDer(`${l1.nonce}:${clientTime}`) }))
      .rejects.toMatchObject({ body: { code: -32050 } });
    expect(await shortRpc(gw.url, 'auth.refresh_token', { refresh_token: id.refreshToken }))
      .toMatchObject({ success: false, error: 'certificate_revoked', relogin_required: true });
    // The access token is a JWT that has not expired: the connect checks the certificate.
    await expect(Session.open(gw.url, id)).rejects.toMatchObject({ body: { code: -32050 } });
    bystander.close();
  });
});
