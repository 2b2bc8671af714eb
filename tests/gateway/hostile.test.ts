// Regression tests for the hostile-input findings of issue 13 on the gateway side: a login
// signature passed off as a token, a frame too deep to serialise, the admin API driven from a page,
// a bad %-escape answered with a 500, and what discovery and login2 take from the client.

import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/db.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { TokenService } from '../../gateway/tokens.ts';
import { Identity, RpcFailure, Session, openSocket, shortRpc } from '../support/aun-client.ts';
import { loggedIn, newAid, online, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** DER ECDSA (SEQUENCE of two INTEGERs) to the raw 64-byte r‖s form a JWT carries. */
function derToRaw(der: Buffer): Buffer {
  let i = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const int = () => {
    const len = der[i + 1]!;
    let v = der.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    while (v.length > 32 && v[0] === 0) v = v.subarray(1);
    return Buffer.concat([Buffer.alloc(32 - v.length), v]);
  };
  return Buffer.concat([int(), int()]);
}

/** Raw HTTP, so Host and odd request targets go out exactly as written. */
function rawHttp(port: number, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('finding 1: a login1 signature is never an access token', () => {
  async function forgedTokens(victim: string): Promise<string[]> {
    const now = Math.floor(Date.now() / 1000);
    const claims = b64url(JSON.stringify({ aid: victim, sub: victim, iss: `auth.${gw.config.issuer}`, aud: 'aun', exp: now + 3600 }));
    const realHeader = (await loggedIn(gw, 'mallory')).accessToken.split('.')[0]!;
    const out: string[] = [];
    // The attack as found (empty header) and with the gateway's real header in front.
    for (const nonce of [`.${claims}`, `${realHeader}.${claims}`]) {
      const l1 = await shortRpc<{ client_nonce_signature: string }>(gw.url, 'auth.aid_login1', { aid: victim, client_nonce: nonce });
      out.push(`${nonce}.${b64url(derToRaw(Buffer.from(l1.client_nonce_signature, 'base64')))}`);
    }
    return out;
  }

  it('refuses a token made of a client_nonce signature: no connection, no inbox', async () => {
    // A short AID, so the claims fit in login1's 256-character client_nonce even behind a real header.
    const victim = new Identity(`v${Math.random().toString(36).slice(2, 8)}.${gw.config.issuer}`);
    await victim.register(gw.url);
    await victim.login(gw.url, gw.httpUrl, gw.rootPem);
    const attacker = new Identity(newAid('attacker'));
    for (const token of await forgedTokens(victim.aid)) {
      const err = await Session.open(gw.url, attacker, { token }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcFailure);
      expect((err as RpcFailure).body.code).toBe(4001);
    }
    // The victim's own token still works: the refusal is about the forgery, not the AID.
    const s = await Session.open(gw.url, victim);
    expect(s.hello.status).toBe('ok');
    s.close();
  });

  it('accepts only its own header: alg ES256, typ JWT and its kid, each pinned', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const tokens = new TokenService(openDatabase(':memory:'), key, 'jwt-test', 'aun.local', 3600, 86_400);
    const now = Math.floor(Date.now() / 1000);
    const good = tokens.grant('alice.aun.local', now).access_token;
    expect(tokens.verifyAccess(good, now)).toBe('alice.aun.local');
    const claims = good.split('.')[1]!;
    const signed = (header: object) => {
      const h = b64url(JSON.stringify(header));
      return `${h}.${claims}.${b64url(sign('sha256', Buffer.from(`${h}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }))}`;
    };
    expect(tokens.verifyAccess(signed({ alg: 'ES256', typ: 'JWT', kid: 'jwt-test' }), now)).toBe('alice.aun.local');
    for (const header of [
      { alg: 'ES256', typ: 'JWT', kid: 'another' },
      { alg: 'ES256', typ: 'at+jwt', kid: 'jwt-test' },
      { alg: 'ES384', typ: 'JWT', kid: 'jwt-test' },
      { alg: 'none', typ: 'JWT', kid: 'jwt-test' },
      { alg: 'ES256', kid: 'jwt-test' },
      { alg: 'ES256', typ: 'JWT', kid: 'jwt-test', jku: 'https://evil.example/keys' },
    ]) {
      expect(tokens.verifyAccess(signed(header), now), JSON.stringify(header)).toBeNull();
    }
    // Spelling variants of the same bytes (padding, stray characters) are refused too.
    expect(tokens.verifyAccess(good + '=', now)).toBeNull();
    expect(tokens.verifyAccess(good.replace('.', '.!'), now)).toBeNull();
  });
});

describe('finding 2: frames bounded before any handler', () => {
  it('answers a 20,000-deep auth.connect protocol with a clear error and stays up', async () => {
    const { ws, challenge } = await openSocket(gw.url);
    const nonce = (challenge.params as { nonce: string }).nonce;
    const deep = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
    const frame = `{"jsonrpc":"2.0","id":"deep","method":"auth.connect","params":{"nonce":"${nonce}","auth":{"method":"kite_token","token":"x"},"protocol":${deep}}}`;
    const reply = await new Promise<{ raw: string; parsed: { error: { code: number; message: string } } }>((resolve) => {
      ws.once('message', (d) => resolve({ raw: String(d), parsed: JSON.parse(String(d)) }));
      ws.send(frame);
    });
    ws.close();
    expect(reply.parsed.error.code).toBe(-32600);
    expect(reply.parsed.error.message).toMatch(/too deep/);
    expect(reply.raw.length).toBeLessThan(512);
    const bystander = await online(gw);
    expect(await bystander.call('meta.ping')).toMatchObject({ pong: true });
    bystander.close();
  });

  it('repeats a mismatched protocol range short, whatever the client sent', async () => {
    const { ws, challenge } = await openSocket(gw.url);
    const nested = JSON.parse('{"a":'.repeat(50) + '1' + '}'.repeat(50)) as unknown;
    const params = { nonce: (challenge.params as { nonce: string }).nonce, auth: { method: 'kite_token', token: 'x' }, protocol: { min: '9'.repeat(500_000), max: nested } };
    const raw = await new Promise<string>((resolve) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'v', method: 'auth.connect', params }));
    });
    const reply = JSON.parse(raw) as { error: { code: number; data: { client_range: { min: string; max: string } } } };
    expect(reply.error.code).toBe(-32000);
    expect(raw.length).toBeLessThan(1024);
    expect(reply.error.data.client_range.max).toBe('<object>');
    expect(await new Promise((resolve) => ws.once('close', resolve))).toBe(1000);
  });

  it('quotes no long client string in an error, and no long id', async () => {
    const s = await online(gw);
    const unknown = await s.request('x'.repeat(200_000), {});
    expect(JSON.stringify(unknown).length).toBeLessThan(1024);
    expect(unknown).toMatchObject({ error: { code: -32601 } });
    const longId = await new Promise<string>((resolve) => {
      s.ws.once('message', (d) => resolve(String(d)));
      s.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'i'.repeat(100_000), method: 'meta.ping' }));
    });
    expect(longId.length).toBeLessThan(512);
    expect(JSON.parse(longId)).toMatchObject({ id: null, error: { code: -32600 } });
    const curve = await shortRpc(gw.url, 'auth.create_aid', { aid: newAid(), public_key: 'AAAA', curve: 'c'.repeat(300_000) }).catch((e: RpcFailure) => e);
    expect(JSON.stringify((curve as RpcFailure).body).length).toBeLessThan(1024);
    s.close();
  });
});

describe('finding 3: the admin API', () => {
  it('is off unless asked for', async () => {
    const plain = await startGateway({ dataDir: ':memory:' });
    try {
      expect(plain.adminToken).toBeNull();
      expect((await fetch(`${plain.httpUrl}/admin/stats`)).status).toBe(404);
      const s = await online(plain);
      expect((await fetch(`${plain.httpUrl}/admin/drop`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(404);
      expect(await s.call('meta.ping')).toMatchObject({ pong: true });
      s.close();
    } finally {
      await plain.close();
    }
  });

  it('writes a fresh token per start to the data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aun-admin-'));
    try {
      const first = await startGateway({ dataDir, admin: true });
      const token1 = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      expect(token1).toBe(first.adminToken);
      expect(first.adminTokenPath).toBe(join(dataDir, 'admin-token'));
      await first.close();
      const second = await startGateway({ dataDir, admin: true });
      expect(second.adminToken).not.toBe(token1);
      expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(second.adminToken);
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('needs the token, a loopback Host, a JSON POST, and sends no CORS', async () => {
    const s = await online(gw);
    const token = gw.adminToken!;
    const host = `127.0.0.1:${gw.port}`;
    const auth = { Authorization: `Bearer ${token}` };
    const json = { 'Content-Type': 'application/json' };
    const cases: [string, Parameters<typeof rawHttp>[1], number][] = [
      ['no token', { path: '/admin/stats', headers: { Host: host } }, 401],
      ['wrong token', { path: '/admin/stats', headers: { Host: host, Authorization: 'Bearer nope' } }, 401],
      ['token in the wrong scheme', { path: '/admin/stats', headers: { Host: host, Authorization: token } }, 401],
      ['rebound DNS name', { path: '/admin/stats', headers: { Host: 'evil.example', ...auth } }, 403],
      ['rebound name with our port', { path: '/admin/stats', headers: { Host: `evil.example:${gw.port}`, ...auth } }, 403],
      ['loopback on another port', { path: '/admin/stats', headers: { Host: '127.0.0.1:1', ...auth } }, 403],
      ['no-cors text POST', { method: 'POST', path: '/admin/close', headers: { Host: host, ...auth, 'Content-Type': 'text/plain' }, body: '{"code":4015}' }, 415],
      ['form POST', { method: 'POST', path: '/admin/drop', headers: { Host: host, ...auth, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=1' }, 415],
      ['POST without a type', { method: 'POST', path: '/admin/drop', headers: { Host: host, ...auth }, body: '{}' }, 415],
      ['no-cors POST without the token', { method: 'POST', path: '/admin/close', headers: { Host: host, 'Content-Type': 'text/plain' }, body: '{}' }, 401],
      ['preflight', { method: 'OPTIONS', path: '/admin/close', headers: { Host: host, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } }, 401],
    ];
    for (const [what, req, status] of cases) {
      const res = await rawHttp(gw.port, req);
      expect(res.status, what).toBe(status);
      expect(res.headers['access-control-allow-origin'], what).toBeUndefined();
    }
    // Nothing above reached the session; the proper call does, from each loopback name.
    expect(await s.call('meta.ping')).toMatchObject({ pong: true });
    for (const h of [host, `localhost:${gw.port}`, `[::1]:${gw.port}`]) {
      const ok = await rawHttp(gw.port, { path: '/admin/stats', headers: { Host: h, ...auth } });
      expect(ok.status, h).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBeUndefined();
    }
    const posted = await rawHttp(gw.port, { method: 'POST', path: '/admin/delay', headers: { Host: host, ...auth, ...json }, body: '{"ms":0}' });
    expect(posted.status).toBe(200);
    s.close();
  });
});

describe('finding 7: HTTP answers 4xx to bad input, never 500', () => {
  it('refuses malformed paths and queries with a 4xx', async () => {
    const user = await loggedIn(gw, 'certs');
    const paths = [
      '/pki/cert/%', '/pki/cert/%zz', '/pki/cert/%E0%A4%A', `/pki/cert/${user.aid}?cert_fingerprint=%`,
      `/pki/cert/${user.aid}?cert_fingerprint=sha256:zz`, '/pki/cert/', '/pki/cert/%00', '/%', '/health?%%',
      '/.well-known/aun-gateway?x=%', '/pki/chain/%', '/admin/%', '//', '/pki/cert/' + 'a'.repeat(8000),
    ];
    for (const path of paths) {
      for (const method of ['GET', 'HEAD', 'POST']) {
        const res = await rawHttp(gw.port, { method, path });
        expect(res.status, `${method} ${path}`).toBeLessThan(500);
      }
    }
    expect((await rawHttp(gw.port, { path: '/pki/cert/%' })).status).toBe(400);
    expect((await rawHttp(gw.port, { path: 'http://[::1' })).status).toBe(400);
    expect((await fetch(`${gw.httpUrl}/health`)).status).toBe(200);
  });
});

describe('finding 8: what discovery and login2 take from the client', () => {
  it('discovery names only the gateway\'s own hosts, never a forged Host', async () => {
    const ask = async (host: string) => (JSON.parse((await rawHttp(gw.port, { path: '/.well-known/aun-gateway', headers: { Host: host } })).body) as { gateways: { url: string }[] }).gateways[0]!.url;
    expect(await ask('evil.example')).toBe(gw.url);
    expect(await ask(`evil.example:${gw.port}`)).toBe(gw.url);
    expect(await ask('127.0.0.1:1')).toBe(gw.url);
    expect(await ask(`localhost:${gw.port}`)).toBe(`ws://localhost:${gw.port}/ws`);
    expect(await ask(`127.0.0.1:${gw.port}`)).toBe(gw.url);
  });

  it('login2 signs client_time verbatim: its freshness is the single-use nonce, and its length is bounded', async () => {
    const id = new Identity(newAid('clock'));
    await id.register(gw.url);
    const login2 = async (clientTime: string) => {
      const l1 = await shortRpc<{ request_id: string; nonce: string }>(gw.url, 'auth.aid_login1', { aid: id.aid, client_nonce: 'q3Jz1pX0mB9cN2ka' });
      const params = { aid: id.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: clientTime, signature: id.signDer(`${l1.nonce}:${clientTime}`) };
      return { params, result: await shortRpc<{ access_token: string }>(gw.url, 'auth.aid_login2', params).catch((e: RpcFailure) => e) };
    };
    // A client whose clock is a year off still logs in (the spec sets no window; see gateway/README.md) …
    const { params, result } = await login2(String(Math.floor(Date.now() / 1000) - 365 * 86_400));
    expect(result).toHaveProperty('access_token');
    // … but the same signed answer cannot be replayed: the nonce is spent.
    await expect(shortRpc(gw.url, 'auth.aid_login2', params)).rejects.toMatchObject({ body: { code: -32002 } });
    const long = await login2('1'.repeat(10_000));
    expect(long.result).toBeInstanceOf(RpcFailure);
    expect((long.result as RpcFailure).body.code).toBe(-32602);
  });
});
