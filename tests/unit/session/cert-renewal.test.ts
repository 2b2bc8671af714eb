// A certificate the gateway hands over at login (spec §3.3: `new_cert`, `active_cert`): the
// session takes it only when it chains to a trusted root, names the AID and carries our key, then
// stores it, shows it at the next login and names it in signed calls. Against the dev gateway,
// where another device of the AID renews the certificate with auth.renew_cert.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../../protocol/bytes.ts';
import type { Gateway } from '../../../gateway/server.ts';
import { checkOfferedCert, login, type Credentials } from '../../../worker/auth/login.ts';
import { shortRpc } from '../../../worker/auth/short-rpc.ts';
import { certFingerprint, signDer } from '../../../worker/auth/sign.ts';
import { GatewaySession } from '../../../worker/session/session.ts';
import { MemoryTokenCache } from '../../../worker/session/tokens.ts';
import { testGateway } from '../../support/gateway.ts';
import { WS, issue, makeRoot, registered, trustOf } from '../auth/helpers.ts';

let gw: Gateway;
beforeAll(async () => { gw = await testGateway(); });
afterAll(() => gw.close());

const ctx = () => ({ url: gw.url, trust: trustOf(gw), WebSocketImpl: WS });

/** What another device of the AID (same key) does: a fresh login1 nonce, signed, for a renewal. */
async function renewElsewhere(creds: Credentials): Promise<string> {
  const l1 = await shortRpc(gw.url, 'auth.aid_login1', { aid: creds.aid, client_nonce: 'n-other-device' }, { WebSocketImpl: WS });
  const signature = toBase64(await signDer(creds.privateKey, utf8(l1.nonce)));
  return (await shortRpc(gw.url, 'auth.renew_cert', { aid: creds.aid, request_id: l1.request_id, nonce: l1.nonce, signature }, { WebSocketImpl: WS })).cert;
}

/** Another device moves the AID to a new key; returns the new key's certificate. */
async function rekeyElsewhere(creds: Credentials): Promise<string> {
  const next = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const spki = toBase64(new Uint8Array(await crypto.subtle.exportKey('spki', next.publicKey)));
  const l1 = await shortRpc(gw.url, 'auth.aid_login1', { aid: creds.aid, client_nonce: 'n-rekey' }, { WebSocketImpl: WS });
  const signature = toBase64(await signDer(creds.privateKey, utf8(l1.nonce + spki)));
  return (await shortRpc(gw.url, 'auth.rekey', { aid: creds.aid, request_id: l1.request_id, nonce: l1.nonce, new_public_key: spki, signature }, { WebSocketImpl: WS })).cert;
}

describe('a certificate the gateway hands over at login', () => {
  it('renewed by another device: the next login takes it, stores it, shows it next time and signs naming it', async () => {
    const alice = await registered(gw, 'alice');
    const creds: Credentials = { aid: alice.aid, certPem: alice.certPem, privateKey: alice.privateKey };
    const renewed = await renewElsewhere(creds);
    expect(renewed).not.toBe(alice.certPem);

    const stored: string[] = [];
    const lines: string[] = [];
    // What the session writes on its sockets.
    const sent: string[] = [];
    class Recording extends (WS as unknown as typeof WebSocket) {
      override send(data: string): void {
        sent.push(data);
        super.send(data);
      }
    }
    const s = new GatewaySession({
      url: gw.url, credentials: creds, trust: trustOf(gw), tokens: new MemoryTokenCache(), deviceId: 'dev-1', WebSocketImpl: Recording as unknown as typeof WS,
      onCertificate: (pem) => void stored.push(pem), log: (l) => lines.push(l),
    });
    try {
      s.start();
      await s.call('meta.ping', {}, { waitReady: true });
      expect(stored).toEqual([renewed]);
      expect(creds.certPem).toBe(renewed);
      expect(lines).toContain('login: took the certificate the gateway handed over');
      // Signed calls name the new certificate.
      const messageId = `m-${Date.now()}`;
      await s.call('message.send', { to: alice.aid, payload: { type: 'text', text: 'signed after the renewal' }, message_id: messageId, timestamp: Date.now(), encrypted: false });
      const frame = sent.map((t) => JSON.parse(t) as { method?: string; params?: { message_id?: string; client_signature?: { cert_fingerprint?: string } } })
        .find((f) => f.method === 'message.send' && f.params?.message_id === messageId);
      expect(frame?.params?.client_signature?.cert_fingerprint).toBe(await certFingerprint(renewed));
    } finally {
      s.close();
    }
    // The next login shows the new certificate, so nothing is handed over again.
    const again = await login(creds, ctx());
    expect(again.offeredCert).toBeUndefined();
    expect(await certFingerprint(creds.certPem)).toBe(await certFingerprint(renewed));
  });

  it('is refused when it carries another key, names another AID or chains to no trusted root; ours stays', async () => {
    const alice = await registered(gw, 'alice2');
    const bob = await registered(gw, 'bob2');
    const creds: Credentials = { aid: alice.aid, certPem: alice.certPem, privateKey: alice.privateKey };
    expect(await checkOfferedCert(await renewElsewhere(creds), creds, ctx())).toEqual({ ok: true });
    expect(await checkOfferedCert(bob.certPem, creds, ctx())).toEqual({ ok: false, why: expect.stringContaining(`is not ${alice.aid}`) });
    const foreign = await issue(await makeRoot('Someone Else'), alice.aid);
    expect(await checkOfferedCert(foreign.pem, creds, ctx())).toMatchObject({ ok: false });
    expect(await checkOfferedCert('not a certificate', creds, ctx())).toMatchObject({ ok: false });
    // The AID moved to a new key elsewhere: that key's certificate is not ours to sign for.
    expect(await checkOfferedCert(await rekeyElsewhere(creds), creds, ctx())).toEqual({ ok: false, why: 'it carries another key than ours' });
  });
});
