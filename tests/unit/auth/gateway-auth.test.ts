import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../../protocol/bytes.ts';
import {
  AuthError, ClientSignatureError, ConnectionLostError, IdentityConflictError, NotFoundError, TimeoutError,
  errorFromRpc,
} from '../../../protocol/errors.ts';
import type { Gateway } from '../../../gateway/server.ts';
import { createIdentity, importSigningKey } from '../../../worker/auth/identity.ts';
import type { WebSocketCtor } from '../../../worker/net/io.ts';
import { login, refreshTokens } from '../../../worker/auth/login.ts';
import { shortRpc } from '../../../worker/auth/short-rpc.ts';
import { certFingerprint, signClientCall } from '../../../worker/auth/sign.ts';
import { TrustStore } from '../../../worker/auth/trust.ts';
import { Identity, Session } from '../../support/aun-client.ts';
import { adminPost, newAid, stats, testGateway } from '../../support/gateway.ts';
import { WS, makeRoot, registered, trustOf } from './helpers.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

function ctx(trust = trustOf(gw)) {
  return { url: gw.url, trust, WebSocketImpl: WS };
}

describe('shortRpc', () => {
  it('uses the id pre-<method> and types errors', async () => {
    await expect(shortRpc(gw.url, 'auth.aid_login1', { aid: newAid(), client_nonce: 'x' }, { WebSocketImpl: WS })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('gives up at the deadline with a TimeoutError and reports a refused socket as lost', async () => {
    await adminPost(gw, 'delay', { ms: 2000 });
    try {
      await expect(shortRpc(gw.url, 'auth.create_aid', { aid: newAid(), public_key: 'AAAA' }, { WebSocketImpl: WS, timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    } finally {
      await adminPost(gw, 'delay', { ms: 0 });
    }
    await expect(shortRpc('ws://127.0.0.1:1/ws', 'auth.aid_login1', { aid: 'a', client_nonce: 'x' }, { WebSocketImpl: WS })).rejects.toBeInstanceOf(ConnectionLostError);
  });
});

describe('createIdentity', () => {
  it('registers a new AID with a fresh P-256 key and checks the certificate', async () => {
    const aid = newAid('alice', gw.config.issuer);
    const id = await createIdentity(aid, ctx());
    if (id.kind !== 'new-key') throw new Error('expected a new key');
    const cert = new x509.X509Certificate(id.certPem);
    expect(cert.subject).toBe(`CN=${aid}`);
    expect(new Uint8Array(cert.publicKey.rawData)).toEqual(id.publicSpki);
    const key = await importSigningKey(id.pkcs8);
    expect(key.extractable).toBe(false);
    expect(key.usages).toEqual(['sign']);
    expect((await fetch(`${gw.httpUrl}/pki/cert/${aid}`)).status).toBe(200);
  });

  it('refuses an AID that is already registered, unless the caller holds its key', async () => {
    const alice = await registered(gw, 'alice');
    await expect(createIdentity(alice.aid, ctx())).rejects.toBeInstanceOf(IdentityConflictError);
    const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const otherSpki = new Uint8Array(await crypto.subtle.exportKey('spki', other.publicKey));
    await expect(createIdentity(alice.aid, { ...ctx(), existingPublicSpki: otherSpki })).rejects.toBeInstanceOf(IdentityConflictError);
    const again = await createIdentity(alice.aid, { ...ctx(), existingPublicSpki: alice.publicSpki });
    expect(again).toEqual({ kind: 'existing-key', certPem: alice.certPem, publicSpki: alice.publicSpki });
  });

  it('resumes a half-finished registration with the caller\'s key', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
    const aid = newAid('resume', gw.config.issuer);
    const id = await createIdentity(aid, { ...ctx(), existingPublicSpki: spki });
    expect(id.kind).toBe('existing-key');
    expect(new Uint8Array(new x509.X509Certificate(id.certPem).publicKey.rawData)).toEqual(spki);
  });

  it('rejects a certificate that does not chain to our root', async () => {
    const other = await makeRoot();
    await expect(createIdentity(newAid('x', gw.config.issuer), ctx(new TrustStore([other.pem])))).rejects.toThrow(/not a trusted root/);
  });
});

describe('login', () => {
  it('runs both phases and yields tokens the gateway accepts', async () => {
    const alice = await registered(gw, 'alice');
    const before = (await stats(gw)).logins as number;
    const tokens = await login(alice, ctx());
    expect(tokens.accessToken.split('.')).toHaveLength(3);
    expect(tokens.refreshToken).toMatch(/^rt-/);
    expect(tokens.expiresIn).toBe(3600);
    expect((await stats(gw)).logins).toBe(before + 1);
    const identity = Object.assign(new Identity(alice.aid), { cert: alice.certPem });
    const session = await Session.open(gw.url, identity, { token: tokens.accessToken });
    expect(session.hello.status).toBe('ok');
    session.close();
  });

  it('fails with AuthError when signed with the wrong key', async () => {
    const alice = await registered(gw, 'alice');
    const bob = await registered(gw, 'bob');
    await expect(login({ ...alice, privateKey: bob.privateKey }, ctx())).rejects.toBeInstanceOf(AuthError);
  });

  it('refuses an auth server whose certificate does not chain to our root', async () => {
    const alice = await registered(gw, 'alice');
    const other = await makeRoot();
    const err = await login(alice, ctx(new TrustStore([other.pem]))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/not a trusted root/);
  });

  it('refuses an auth server whose client_nonce signature is forged', async () => {
    const alice = await registered(gw, 'alice');
    const err = await login(alice, { ...ctx(), WebSocketImpl: forgingSocket() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/signature over client_nonce does not verify/);
  });
});

describe('refreshTokens', () => {
  it('rotates the pair, and a used refresh token asks for a new login', async () => {
    const alice = await registered(gw, 'alice');
    const first = await login(alice, ctx());
    const r = await refreshTokens({ aid: alice.aid, refreshToken: first.refreshToken, accessToken: first.accessToken, accessExpiresAt: Date.now() + 3_600_000 }, ctx());
    if (!r.ok) throw new Error(r.error);
    expect(r.tokens.refreshToken).not.toBe(first.refreshToken);
    const again = await refreshTokens({ aid: alice.aid, refreshToken: first.refreshToken }, ctx());
    expect(again).toEqual({ ok: false, reloginRequired: true, retryable: false, error: 'invalid_or_expired_refresh_token' });
  });
});

describe('client signatures on the gateway', () => {
  it('accepts a signed method and rejects tampered params with -32051', async () => {
    const alice = await registered(gw, 'alice');
    const tokens = await login(alice, ctx());
    const identity = Object.assign(new Identity(alice.aid), { cert: alice.certPem });
    const session = await Session.open(gw.url, identity, { token: tokens.accessToken });
    try {
      const fp = await certFingerprint(alice.certPem);
      const signed = await signClientCall('message.v2.ack', { up_to_seq: 0 }, alice.aid, fp, alice.privateKey);
      const ok = await session.request('message.v2.ack', signed);
      expect(ok.error).toBeUndefined();
      const tampered = await session.request('message.v2.ack', { ...signed, up_to_seq: 5 });
      const body = tampered.error as { code: number; message: string };
      expect(body.code).toBe(-32051);
      expect(errorFromRpc(body)).toBeInstanceOf(ClientSignatureError);
      const otherMethod = await signClientCall('message.v2.pull', { up_to_seq: 0 }, alice.aid, fp, alice.privateKey);
      expect(((await session.request('message.v2.ack', otherMethod)).error as { code: number }).code).toBe(-32051);
    } finally {
      session.close();
    }
  });
});

/** A WebSocket whose login1 answers carry a forged signature over the client_nonce. */
function forgingSocket(): WebSocketCtor {
  type Handler = ((ev: unknown) => void) | null;
  class Forging {
    private readonly ws: WebSocket;
    onmessage: Handler = null;
    onclose: Handler = null;
    onerror: Handler = null;
    constructor(url: string) {
      this.ws = new WebSocket(url);
      this.ws.onmessage = (ev) => this.onmessage?.({ data: forge(String(ev.data)) });
      this.ws.onclose = (ev) => this.onclose?.(ev);
      this.ws.onerror = (ev) => this.onerror?.(ev);
    }
    get readyState(): number {
      return this.ws.readyState;
    }
    send(data: string): void {
      this.ws.send(data);
    }
    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }
  }
  return Forging as unknown as WebSocketCtor;
}

function forge(text: string): string {
  const frame = JSON.parse(text) as { id?: string; result?: Record<string, unknown> };
  if (frame.id !== 'pre-auth.aid_login1' || !frame.result) return text;
  const sig = Buffer.from(String(frame.result.client_nonce_signature), 'base64');
  sig[sig.length - 1]! ^= 0x01;
  frame.result.client_nonce_signature = toBase64(sig);
  return JSON.stringify(frame);
}
