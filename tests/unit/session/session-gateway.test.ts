// GatewaySession against the real dev gateway over real sockets: token strategies, reconnects,
// eviction, heartbeat against a frozen gateway, bad frames, signed calls.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientSignatureError, SessionError, ValidationError } from '../../../protocol/errors.ts';
import type { Gateway } from '../../../gateway/server.ts';
import { login, type Credentials } from '../../../worker/auth/login.ts';
import { GatewaySession, type GatewaySessionOptions } from '../../../worker/session/session.ts';
import type { SessionState, StateChange } from '../../../worker/session/state.ts';
import { MemoryTokenCache, recordOf, type TokenCache } from '../../../worker/session/tokens.ts';
import type { BadFrameReport } from '../../../worker/session/transport.ts';
import { adminPost, stats, testGateway } from '../../support/gateway.ts';
import { WS, registered, trustOf } from '../auth/helpers.ts';

let gw: Gateway;
const sessions: GatewaySession[] = [];

beforeAll(async () => {
  gw = await testGateway();
});
afterAll(async () => {
  for (const s of sessions) s.close();
  await gw.close();
});

function open(g: Gateway, credentials: Credentials, tokens: TokenCache = new MemoryTokenCache(), over: Partial<GatewaySessionOptions> = {}): GatewaySession {
  const s = new GatewaySession({
    url: g.url, credentials, trust: trustOf(g), tokens, deviceId: 'dev-1', WebSocketImpl: WS,
    backoff: { baseMs: 50, maxMs: 400 }, ...over,
  });
  sessions.push(s);
  return s;
}

function reach(s: GatewaySession, state: SessionState, timeoutMs = 8000): Promise<StateChange> {
  if (s.state === state) return Promise.resolve(s.snapshot);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${s.aid} stayed ${s.state}, never ${state}`)), timeoutMs);
    const off = s.onStateChange((c) => {
      if (c.state !== state) return;
      clearTimeout(timer);
      off();
      resolve(c);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gatewayCounts(g = gw) {
  const s = await stats(g);
  return { logins: s.logins as number, refreshes: s.refreshes as number, connects: s.connects as number };
}

describe('token strategy', () => {
  it('logs in once, then reconnects on the cached token after a drop', async () => {
    const alice = await registered(gw, 'alice');
    const s = open(gw, alice);
    const before = await gatewayCounts();
    s.start();
    expect((await reach(s, 'ready')).detail).toMatchObject({ strategy: 'login' });
    await adminPost(gw, 'drop');
    await reach(s, 'backoff');
    expect((await reach(s, 'ready')).detail).toMatchObject({ strategy: 'cached' });
    await adminPost(gw, 'drop');
    await reach(s, 'backoff');
    await reach(s, 'ready');
    const after = await gatewayCounts();
    expect(after.logins - before.logins).toBe(1);
    expect(after.refreshes - before.refreshes).toBe(0);
    expect(after.connects - before.connects).toBeGreaterThanOrEqual(3);
    expect(s.counters).toMatchObject({ logins: 1, refreshes: 0, connects: 3, reconnects: 2 });
    s.close();
  });

  it('refreshes a cached token that is about to expire instead of logging in', async () => {
    const alice = await registered(gw, 'alice');
    const tokens = new MemoryTokenCache();
    const grant = await login(alice, { url: gw.url, trust: trustOf(gw), WebSocketImpl: WS });
    await tokens.put(alice.aid, { ...recordOf(grant, Date.now()), accessExpiresAt: Date.now() + 10_000 });
    const before = await gatewayCounts();
    const s = open(gw, alice, tokens);
    s.start();
    expect((await reach(s, 'ready')).detail).toMatchObject({ strategy: 'refreshed' });
    const after = await gatewayCounts();
    expect(after.logins - before.logins).toBe(0);
    expect(after.refreshes - before.refreshes).toBe(1);
    expect((await tokens.get(alice.aid))!.refreshToken).not.toBe(grant.refreshToken);
    s.close();
  });

  it('does a full login when the refresh is refused (relogin_required)', async () => {
    const alice = await registered(gw, 'alice');
    const tokens = new MemoryTokenCache();
    await tokens.put(alice.aid, { accessToken: 'expired', refreshToken: 'rt-revoked', obtainedAt: Date.now() - 7_200_000, accessExpiresAt: Date.now() - 1 });
    const s = open(gw, alice, tokens);
    s.start();
    expect((await reach(s, 'ready')).detail).toMatchObject({ strategy: 'login' });
    expect(s.counters).toMatchObject({ logins: 1, refreshes: 0 });
    expect((await tokens.get(alice.aid))!.accessToken).not.toBe('expired');
    s.close();
  });

  it('moves on when the gateway refuses a cached token, and does not offer it again', async () => {
    const alice = await registered(gw, 'alice');
    const tokens = new MemoryTokenCache();
    const grant = await login(alice, { url: gw.url, trust: trustOf(gw), WebSocketImpl: WS });
    await tokens.put(alice.aid, { ...recordOf(grant, Date.now()), accessToken: 'forged.jwt.token' });
    const s = open(gw, alice, tokens);
    s.start();
    expect((await reach(s, 'ready')).detail).toMatchObject({ strategy: 'refreshed' });
    s.close();
  });

  it('refreshes on its timer while connected, once per token, without touching the connection', async () => {
    const short = await testGateway({ tokenTtl: 4 });
    try {
      const alice = await registered(short, 'alice');
      const s = open(short, alice);
      s.start();
      await reach(s, 'ready');
      await sleep(1500);
      expect(s.counters.refreshes).toBe(0);
      await sleep(1500);
      expect(s.counters.refreshes).toBe(1);
      expect(s.state).toBe('ready');
      expect(s.counters.connects).toBe(1);
      expect((await gatewayCounts(short)).refreshes).toBe(1);
      s.close();
    } finally {
      await short.close();
    }
  });
});

describe('calls', () => {
  it('signs methods flagged signed; the gateway checks the signature', async () => {
    const alice = await registered(gw, 'alice');
    const s = open(gw, alice);
    s.start();
    await reach(s, 'ready');
    await expect(s.call('message.v2.ack', { up_to_seq: 0 })).resolves.toMatchObject({ success: true });
    await expect(s.call('meta.ping', {})).resolves.toMatchObject({ pong: true });
    s.close();
  });

  it('signs the params as the gateway reads them: a Date or NaN in them no longer breaks the signature; a BigInt is a ValidationError', async () => {
    const alice = await registered(gw, 'alice');
    const s = open(gw, alice);
    s.start();
    await reach(s, 'ready');
    // Hashed as given, the Date was {} and NaN was NaN; the gateway hashed the ISO text and null.
    await expect(s.call('message.v2.ack', { up_to_seq: 0, at: new Date(0), n: Number.NaN, gone: undefined } as never)).resolves.toMatchObject({ success: true });
    await expect(s.call('message.v2.ack', { up_to_seq: 0, n: 1n } as never)).rejects.toThrow(ValidationError);
    expect(s.state).toBe('ready');
    s.close();
  });

  it('a signature by a key other than the connection\'s identity is refused with ClientSignatureError', async () => {
    const alice = await registered(gw, 'alice');
    const bob = await registered(gw, 'bob');
    const tokens = new MemoryTokenCache();
    await tokens.put(alice.aid, recordOf(await login(alice, { url: gw.url, trust: trustOf(gw), WebSocketImpl: WS }), Date.now()));
    // Connected as Alice (her cached token) but signing with Bob's certificate and key.
    const s = open(gw, { ...alice, certPem: bob.certPem, privateKey: bob.privateKey }, tokens);
    s.start();
    await reach(s, 'ready');
    await expect(s.call('message.v2.ack', { up_to_seq: 0 })).rejects.toBeInstanceOf(ClientSignatureError);
    expect(s.state).toBe('ready');
    s.close();
  });

  it('rejects at once when not ready', async () => {
    const alice = await registered(gw, 'alice');
    const s = open(gw, alice);
    const t0 = Date.now();
    await expect(s.call('meta.ping', {})).rejects.toBeInstanceOf(SessionError);
    s.start();
    await expect(s.call('meta.ping', {})).rejects.toBeInstanceOf(SessionError);
    expect(Date.now() - t0).toBeLessThan(100);
    await expect(s.call('meta.ping', {}, { waitReady: true })).resolves.toMatchObject({ pong: true });
    s.close();
  });
});

describe('eviction', () => {
  it('a second session on the same AID/device/slot evicts the first, which stays evicted', async () => {
    const alice = await registered(gw, 'alice');
    const tokens = new MemoryTokenCache();
    const first = open(gw, alice, tokens);
    first.start();
    await reach(first, 'ready');
    const second = open(gw, alice, tokens);
    second.start();
    await reach(second, 'ready');
    const evicted = await reach(first, 'evicted');
    expect(evicted.detail).toMatchObject({ code: 4015, reason: 'long_connection_quota_exceeded' });
    await sleep(1000);
    expect(first.state).toBe('evicted');
    expect(first.counters.connects).toBe(1);
    await expect(first.call('meta.ping', {}, { waitReady: true })).rejects.toThrow(/evicted/);
    const connections = (await stats(gw)).connections.filter((c) => c.aid === alice.aid && c.kind === 'long');
    expect(connections).toHaveLength(1);
    first.start();
    await reach(first, 'ready');
    await reach(second, 'evicted');
    first.close();
  });

  it('sessions on different slots coexist', async () => {
    const alice = await registered(gw, 'alice');
    const a = open(gw, alice, new MemoryTokenCache(), { slotId: 'slot-a' });
    const b = open(gw, alice, new MemoryTokenCache(), { slotId: 'slot-b' });
    a.start();
    b.start();
    await Promise.all([reach(a, 'ready'), reach(b, 'ready')]);
    await sleep(300);
    expect([a.state, b.state]).toEqual(['ready', 'ready']);
    a.close();
    b.close();
  });
});

describe('bad frames', () => {
  it('an injected bad frame is reported and ignored; the session keeps working', async () => {
    const alice = await registered(gw, 'alice');
    const s = open(gw, alice);
    const reports: BadFrameReport[] = [];
    s.onBadFrame((r) => reports.push(r));
    s.start();
    await reach(s, 'ready');
    for (const frame of ['this is not json', '{"jsonrpc":"2.0","method":"challenge","params":{"nonce":"x"}}', '{"jsonrpc":"2.0","id":"rpc-0000000000000000","result":{}}']) {
      await adminPost(gw, 'inject', { aid: alice.aid, frame });
    }
    await expect(s.call('meta.ping', {})).resolves.toMatchObject({ pong: true });
    expect(reports.map((r) => r.reason)).toEqual(['not valid JSON', 'a second challenge on an open connection']);
    expect(s.state).toBe('ready');
    expect(s.counters.badFrames).toBe(2);
    s.close();
  });
});

describe('heartbeat', () => {
  it('finds a frozen gateway by heartbeat and reconnects after it resumes', async () => {
    const hb = await testGateway({ heartbeatInterval: 1 });
    try {
      const alice = await registered(hb, 'alice');
      const s = open(hb, alice, new MemoryTokenCache(), { heartbeatFloorMs: 100, backoff: { baseMs: 100, maxMs: 300 } });
      s.start();
      expect((await reach(s, 'ready')).detail).toMatchObject({ heartbeatMs: 1000 });
      const before = await gatewayCounts(hb);
      await adminPost(hb, 'pause');
      const lost = await reach(s, 'backoff', 6000);
      expect(lost.detail).toMatchObject({ error: expect.stringMatching(/heartbeat failed/) });
      // The next attempts probe /health first: wait for one of them (bounded) instead of a fixed sleep.
      for (let t = 0; t < 50 && !/HTTP 503/.test(String((s.snapshot.detail as { error?: unknown }).error)); t++) await sleep(100);
      expect(s.snapshot).toMatchObject({ state: 'backoff', detail: { error: expect.stringMatching(/HTTP 503/) } });
      await adminPost(hb, 'resume');
      expect((await reach(s, 'ready', 5000)).detail).toMatchObject({ strategy: 'cached' });
      const after = await gatewayCounts(hb);
      expect(after.logins).toBe(before.logins);
      expect(s.counters).toMatchObject({ logins: 1, reconnects: 1 });
      s.close();
    } finally {
      await hb.close();
    }
  });
});
