// The session in a browser that goes offline, sleeps and freezes (issue 6): `online` reconnects at
// once, `offline` stops attempts and checks a live socket, and after the worker did not run for a
// while nothing armed before is trusted. Fake timers and a scripted gateway; a sleep moves the wall
// clock without firing timers, a freeze moves the monotonic clock too.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PROBE_TIMEOUT_MS } from '../../../worker/session/heartbeat.ts';
import { WAKE_TICK_MS } from '../../../worker/session/wake.ts';
import type { FakeSocket } from './fake-socket.ts';
import { AID, fakeTime, handshake, requestsOf, scriptedSession as setup } from './scripted-session.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Until the wake tick, plus 1 ms: a 0 ms timer set inside another fires 1 ms later (fake timers, as in Node). */
const UNTIL_TICK = WAKE_TICK_MS + 1;

beforeEach(fakeTime);
afterEach(() => {
  vi.useRealTimers();
});

/** The machine sleeps: the wall clock moves on, timers and the monotonic clock do not. */
function sleep(ms: number): void {
  vi.setSystemTime(Date.now() + ms);
}

/** The browser freezes the worker: both clocks move on, no timer fires until it thaws. */
function freeze(clock: { frozenMs: number }, ms: number): void {
  clock.frozenMs += ms;
  vi.setSystemTime(Date.now() + ms);
}

const pong = { pong: true, timestamp: 1 };

/** Answers the last meta.ping on `s`. */
function answerPing(s: FakeSocket): void {
  const pings = requestsOf(s, 'meta.ping');
  expect(pings.length).toBeGreaterThan(0);
  s.answer(pong, pings[pings.length - 1]);
}

describe('online / offline', () => {
  it('`online` skips the pending backoff wait and starts the backoff over', async () => {
    const { f, session, health, states } = await setup();
    session.start();
    await handshake(f.last());
    health.status = 503;
    f.last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(250 + 500);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { attempt: 3, nextRetryAt: Date.now() + 1000 } });
    expect(health.calls).toBe(2);

    session.setOnline(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(health.calls).toBe(3);
    expect(states.filter((c) => c.state === 'connecting').at(-1)?.detail).toEqual({ attempt: 0 });
    // Still 503: the next wait is the first step again (250 ms), not the fourth (2 s).
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { attempt: 1, nextRetryAt: Date.now() + 250 } });
    health.status = 200;
    await vi.advanceTimersByTimeAsync(250);
    expect(health.calls).toBe(4);
    await handshake(f.last(), 'conn-2');
    expect(session.state).toBe('ready');
    // The skipped 1 s timer never fires an extra attempt.
    await vi.advanceTimersByTimeAsync(2000);
    expect(health.calls).toBe(4);
    expect(f.sockets).toHaveLength(2);
  });

  it('offline: no health probe, no socket, and the state says so; `online` connects at once', async () => {
    const { f, session, health } = await setup();
    session.start();
    await handshake(f.last());
    f.last().serverClose(1006);
    session.setOnline(false);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { nextRetryAt: null, online: false } });
    await vi.advanceTimersByTimeAsync(20 * MIN);
    expect(health.calls).toBe(0);
    expect(f.sockets).toHaveLength(1);
    session.setOnline(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(f.sockets).toHaveLength(2);
    await handshake(f.last(), 'conn-2');
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { online: true } });
  });

  it('start() while offline opens nothing and waits for `online`', async () => {
    const { f, session } = await setup({ online: false });
    session.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { nextRetryAt: null, online: false, error: expect.stringMatching(/offline/) } });
    await vi.advanceTimersByTimeAsync(20 * MIN);
    expect(f.sockets).toHaveLength(0);
    session.setOnline(true);
    await vi.advanceTimersByTimeAsync(0);
    await handshake(f.last());
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { strategy: 'cached' } });
  });

  it('`offline` while ready checks the socket instead of trusting it: an answer keeps it', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    session.setOnline(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(1);
    answerPing(f.last());
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS);
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { online: false } });
    expect(f.sockets).toHaveLength(1);
    expect(f.last().closedWith).toBeNull();
  });

  it('`offline` while ready: a silent socket is closed after one short check-up, and nothing is retried until `online`', async () => {
    const { f, session, health } = await setup();
    session.start();
    await handshake(f.last());
    session.setOnline(false);
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS - 1);
    expect(session.state).toBe('ready');
    await vi.advanceTimersByTimeAsync(1);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { nextRetryAt: null, online: false, error: expect.stringMatching(/check-up ping failed/) } });
    expect(f.sockets[0]!.closedWith).toMatchObject({ code: 1000 });
    await vi.advanceTimersByTimeAsync(20 * MIN);
    expect(health.calls).toBe(0);
    expect(f.sockets).toHaveLength(1);
    session.setOnline(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(f.sockets).toHaveLength(2);
  });
});

describe('after a sleep or a freeze', () => {
  it('pings at once with a short deadline and reconnects immediately when nothing answers', async () => {
    const { f, session, states } = await setup();
    session.start();
    await handshake(f.last());
    expect(session.snapshot.detail).toMatchObject({ lastWakeAt: null });
    sleep(10 * MIN);
    const wokeAt = Date.now() + WAKE_TICK_MS;
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(1);
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { lastWakeAt: wokeAt } });
    expect(session.counters.wakes).toBe(1);

    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS - 1);
    expect(f.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    // No backoff wait: the new socket is opened in the same instant.
    expect(f.sockets).toHaveLength(2);
    expect(f.sockets[0]!.closedWith).toMatchObject({ code: 1000 });
    expect(states.slice(-2).map((c) => [c.state, c.detail])).toEqual([
      ['backoff', expect.objectContaining({ error: expect.stringMatching(/check-up ping failed/) })],
      ['connecting', { attempt: 0 }],
    ]);
    await handshake(f.last(), 'conn-2');
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { connectionId: 'conn-2', strategy: 'cached', lastWakeAt: wokeAt } });
    expect(session.counters).toMatchObject({ reconnects: 1, wakes: 1 });
  });

  it('keeps the connection when the check-up ping is answered', async () => {
    const { f, session, states } = await setup();
    session.start();
    await handshake(f.last());
    const seen = states.length;
    sleep(10 * MIN);
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    answerPing(f.last());
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS * 3);
    expect(session.state).toBe('ready');
    expect(states).toHaveLength(seen);
    expect(f.sockets).toHaveLength(1);
    expect(f.last().closedWith).toBeNull();
    expect(session.counters).toMatchObject({ wakes: 1, reconnects: 0 });
  });

  it('retries at once, with the backoff started over, when it woke up waiting for a retry', async () => {
    const { f, session, health } = await setup({ backoff: { baseMs: 60_000, maxMs: 120_000 } });
    session.start();
    await handshake(f.last());
    f.last().serverClose(1006);
    expect(session.snapshot).toMatchObject({ state: 'backoff', detail: { nextRetryAt: Date.now() + 30_000 } });
    sleep(10 * MIN);
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    expect(health.calls).toBe(1);
    expect(f.sockets).toHaveLength(2);
    expect(session.snapshot).toMatchObject({ state: 'connecting', detail: { attempt: 0 } });
    await handshake(f.last(), 'conn-2');
    // The retry that was due 30 s after the loss does not come on top.
    await vi.advanceTimersByTimeAsync(25_000);
    expect(health.calls).toBe(1);
    expect(f.sockets).toHaveLength(2);
  });

  it('refreshes a token that expired during the sleep, on the live connection', async () => {
    const { f, session, tokens } = await setup();
    session.start();
    await handshake(f.last());
    sleep(2 * HOUR);
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    const short = f.sockets[1]!;
    short.accept();
    await vi.advanceTimersByTimeAsync(0);
    expect(short.request()).toMatchObject({ method: 'auth.refresh_token', params: { refresh_token: 'rt', access_token: 'cached-at' } });
    short.answer({ success: true, access_token: 'at-2', refresh_token: 'rt-2', expires_in: 3600 });
    answerPing(f.sockets[0]!);
    await vi.advanceTimersByTimeAsync(0);
    expect(await tokens.get(AID)).toMatchObject({ accessToken: 'at-2', refreshToken: 'rt-2', accessExpiresAt: Date.now() + HOUR });
    expect(session.state).toBe('ready');
    expect(f.sockets).toHaveLength(2);
    expect(session.counters).toMatchObject({ refreshes: 1, logins: 0, reconnects: 0 });
  });

  it('a dead socket after a sleep past expiry: one refresh, and the reconnect uses its token', async () => {
    const { f, session } = await setup();
    session.start();
    await handshake(f.last());
    sleep(2 * HOUR);
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    const short = f.sockets[1]!;
    short.accept();
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS);
    // The check-up failed; the new long connection waits on the refresh already in flight.
    expect(f.sockets).toHaveLength(3);
    const long = f.sockets[2]!;
    long.accept();
    await vi.advanceTimersByTimeAsync(0);
    expect(long.sent).toHaveLength(0);
    short.answer({ success: true, access_token: 'at-2', refresh_token: 'rt-2', expires_in: 3600 });
    await vi.advanceTimersByTimeAsync(0);
    expect(long.request()).toMatchObject({ method: 'auth.connect', params: { auth: { token: 'at-2' } } });
    long.answer({ status: 'ok', protocol: '1.0', connection: { id: 'conn-2' }, heartbeat_interval: 30 });
    await vi.advanceTimersByTimeAsync(0);
    expect(session.snapshot).toMatchObject({ state: 'ready', detail: { strategy: 'refreshed' } });
    expect(f.sockets.filter((s) => s.sent.some((t) => t.includes('auth.refresh_token')))).toHaveLength(1);
    expect(session.counters).toMatchObject({ refreshes: 1, logins: 0 });
  });

  it('a freeze during a ping: the wake check-up replaces it, and its late deadline kills nothing', async () => {
    const { f, session, states, clock } = await setup();
    session.start();
    await handshake(f.last());
    const seen = states.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(1);
    freeze(clock, 5 * MIN);
    // Thawing: the wake tick and the old ping's deadline are both overdue.
    await vi.advanceTimersByTimeAsync(UNTIL_TICK);
    expect(session.state).toBe('ready');
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(2);
    answerPing(f.last());
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS * 3);
    expect(states).toHaveLength(seen);
    expect(f.sockets).toHaveLength(1);
    expect(session.counters.wakes).toBe(1);
  });

  it('a check-up whose deadline fired late after a freeze gets a fresh ping instead of a reconnect', async () => {
    // A wake tick an hour apart: only the heartbeat's own judgement of its deadline is at work.
    const { f, session, states, clock } = await setup({ wakeTickMs: HOUR });
    session.start();
    await handshake(f.last());
    const seen = states.length;
    // One failure would be enough for this ping (the lid closes: `offline`, then the freeze).
    session.setOnline(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(1);
    freeze(clock, 5 * MIN);
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS + 1);
    expect(requestsOf(f.last(), 'meta.ping')).toHaveLength(2);
    expect(session.state).toBe('ready');
    answerPing(f.last());
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS * 3);
    expect(session.state).toBe('ready');
    expect(states).toHaveLength(seen);
    expect(session.counters.wakes).toBe(0);
  });
});
