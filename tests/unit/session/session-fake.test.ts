// GatewaySession against a scripted socket and fake timers: the connect parameters, the reaction
// to each kind of loss, backoff and the online/offline switch, without a real gateway.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PermissionError, SessionError } from '../../../protocol/errors.ts';
import { fakeTime, handshake, scriptedSession as setup } from './scripted-session.ts';

beforeEach(fakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe('GatewaySession (scripted gateway)', () => {
  it('sends auth.connect exactly as spec §3.4 with the cached token, and reaches ready', async () => {
    const { f, session, states } = await setup({ slotId: 'tab-slot' });
    session.start();
    await handshake(f.last());
    expect(f.last().request(0).params).toEqual({
      nonce: 'nonce-1',
      auth: { method: 'kite_token', token: 'cached-at' },
      protocol: { min: '1.0', max: '1.0' },
      device: { id: 'dev-1', type: 'browser' },
      client: { slot_id: 'tab-slot', sdk_lang: 'javascript', sdk_version: 'aun-worker/0.1.0' },
      delivery_mode: { mode: 'fanout', routing: '', affinity_ttl_ms: 0 },
      capabilities: { e2ee: true, group_e2ee: true, supported_p2p_e2ee: ['e2ee_v2'], supported_group_e2ee: ['group_e2ee_v2'] },
    });
    expect(states.map((c) => c.state)).toEqual(['connecting', 'authenticating', 'ready']);
    expect(session.snapshot.detail).toEqual({ connectionId: 'conn-1', strategy: 'cached', heartbeatMs: 30_000, online: true, lastWakeAt: null });
    expect(session.counters).toMatchObject({ logins: 0, refreshes: 0, connects: 1, reconnects: 0 });
  });

  it('after a loss: backoff with full jitter, /health, then a reconnect on the cached token', async () => {
    const { f, session, health, states } = await setup();
    session.start();
    await handshake(f.last());
    f.last().serverClose(1006);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { attempt: 1, nextRetryAt: Date.now() + 250 } });
    await vi.advanceTimersByTimeAsync(249);
    expect(f.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(health.calls).toBe(1);
    expect(f.sockets).toHaveLength(2);
    await handshake(f.last(), 'conn-2');
    expect(session.state).toBe('ready');
    expect(session.counters).toMatchObject({ connects: 2, reconnects: 1, logins: 0 });
    expect(states.filter((c) => c.state === 'connecting').map((c) => c.detail)).toEqual([{ attempt: 0 }, { attempt: 1 }]);
  });

  it('counts a non-200 /health as a failed attempt and backs off further', async () => {
    const { f, session, health } = await setup();
    session.start();
    await handshake(f.last());
    health.status = 503;
    f.last().serverClose(1001);
    await vi.advanceTimersByTimeAsync(250);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { attempt: 2, nextRetryAt: Date.now() + 500, error: expect.stringMatching(/HTTP 503/) } });
    await vi.advanceTimersByTimeAsync(500);
    expect(session.snapshot.detail).toMatchObject({ attempt: 3 });
    expect(f.sockets).toHaveLength(1);
    health.status = 200;
    session.reconnectNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(f.sockets).toHaveLength(2);
  });

  it('does not retry while offline and reconnects at once when back online', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    f.last().serverClose(1006);
    session.setOnline(false);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { nextRetryAt: null } });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(f.sockets).toHaveLength(1);
    session.setOnline(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(f.sockets).toHaveLength(2);
  });

  it('goes to evicted on event/gateway.disconnect and stays there', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    const events: string[] = [];
    session.onEvent((name) => events.push(name));
    f.last().push({ jsonrpc: '2.0', method: 'event/gateway.disconnect', params: { code: 4015, reason: 'long_connection_quota_exceeded', detail: {} } });
    f.last().serverClose(4015, 'long_connection_quota_exceeded');
    expect(session.snapshot).toMatchObject({ state: 'evicted', detail: { code: 4015, reason: 'long_connection_quota_exceeded' } });
    expect(events).toEqual(['gateway.disconnect']);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(f.sockets).toHaveLength(1);
    expect(session.state).toBe('evicted');
    session.start();
    await handshake(f.last(), 'conn-2');
    expect(session.state).toBe('ready');
  });

  it('maps no-reconnect close codes: 4009 → evicted, 4001 → closed; other codes retry', async () => {
    for (const [code, state] of [[4009, 'evicted'], [4001, 'closed'], [4010, 'closed'], [1011, 'backoff']] as const) {
      const { f, session } = await setup();
      session.start();
      await handshake(f.last());
      f.last().serverClose(code, 'bye');
      expect(session.snapshot).toMatchObject({ state, ...(state === 'backoff' ? {} : { detail: { code, reason: 'bye' } }) });
      session.close();
    }
  });

  it('detects a silent gateway by heartbeat and reconnects', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    // First ping at 30 s times out at 40 s; the confirming ping goes out at once and times out at 50 s.
    await vi.advanceTimersByTimeAsync(49_999);
    expect(session.state).toBe('ready');
    await vi.advanceTimersByTimeAsync(2);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { error: expect.stringMatching(/heartbeat failed/) } });
    expect(f.sockets[0]!.closedWith).toMatchObject({ code: 1000 });
  });

  it('rejects calls at once unless ready; waitReady waits up to the deadline', async () => {
    const { f, session } = await setup();
    await expect(session.call('meta.ping', {})).rejects.toBeInstanceOf(SessionError);
    await expect(session.call('meta.ping', {}, { waitReady: true })).rejects.toThrow(/is idle.*call start\(\) first/);
    session.start();
    await expect(session.call('meta.ping', {})).rejects.toThrow(/is connecting, not ready/);
    const waiting = session.call('meta.ping', {}, { waitReady: true, timeoutMs: 5000 });
    await handshake(f.last());
    f.last().answer({ pong: true, timestamp: 1 });
    await expect(waiting).resolves.toEqual({ pong: true, timestamp: 1 });
    await expect(session.call('auth.connect' as 'meta.ping', {})).rejects.toBeInstanceOf(PermissionError);
    await expect(session.call('auth.refresh_token' as 'meta.ping', {})).rejects.toBeInstanceOf(PermissionError);
  });

  it('close() rejects in-flight calls, stops everything and allows a later start()', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    const inFlight = session.call('meta.status', {});
    session.close();
    await expect(inFlight).rejects.toMatchObject({ name: 'ConnectionLostError' });
    expect(session.snapshot).toMatchObject({ state: 'closed', detail: { code: 1000 } });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(f.sockets).toHaveLength(1);
    session.start();
    expect(session.state).toBe('connecting');
  });
});
