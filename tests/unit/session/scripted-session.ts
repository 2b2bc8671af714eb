// A GatewaySession against scripted sockets under Vitest fake timers, shared by the session tests
// that play the gateway themselves. `monotonic` is performance.now (faked, so it follows the timers)
// plus `clock.frozenMs`: a test freezes the worker by moving both clocks without firing timers.

import { expect, vi } from 'vitest';
import { TrustStore } from '../../../worker/auth/trust.ts';
import { GatewaySession, type GatewaySessionOptions } from '../../../worker/session/session.ts';
import type { StateChange } from '../../../worker/session/state.ts';
import { MemoryTokenCache } from '../../../worker/session/tokens.ts';
import { makeRoot } from '../auth/helpers.ts';
import { fakeSockets, type FakeSocket } from './fake-socket.ts';

export const AID = 'alice.aun.local';
let root: string | undefined;

/** Run with real timers (key generation under fake ones can stall), then switch to fake ones. */
export async function fakeTime(): Promise<void> {
  vi.useRealTimers();
  root ??= (await makeRoot()).pem;
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
}

export async function scriptedSession(over: Partial<GatewaySessionOptions> = {}, tokenTtlMs = 3_600_000) {
  const f = fakeSockets();
  const tokens = new MemoryTokenCache();
  const now = Date.now();
  await tokens.put(AID, { accessToken: 'cached-at', refreshToken: 'rt', obtainedAt: now, accessExpiresAt: now + tokenTtlMs });
  const health = { status: 200, calls: 0 };
  const clock = { frozenMs: 0 };
  const privateKey = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])).privateKey;
  const session = new GatewaySession({
    url: 'ws://gw.test/ws',
    credentials: { aid: AID, certPem: 'unused', privateKey },
    trust: new TrustStore([root!]),
    tokens,
    deviceId: 'dev-1',
    WebSocketImpl: f.Ctor,
    fetch: async () => {
      health.calls++;
      return new Response('', { status: health.status });
    },
    random: () => 0.5,
    monotonic: () => performance.now() + clock.frozenMs,
    ...over,
  });
  const states: StateChange[] = [];
  session.onStateChange((c) => states.push(c));
  return { f, session, tokens, health, states, clock };
}

/** Plays the gateway for one handshake on `s`: challenge, then hello-ok for auth.connect. */
export async function handshake(s: FakeSocket, id = 'conn-1'): Promise<void> {
  s.accept();
  await vi.advanceTimersByTimeAsync(0);
  expect(s.request().method).toBe('auth.connect');
  s.answer({ status: 'ok', protocol: '1.0', connection: { id, device_id: 'dev-1', slot_id: 'default', kind: 'long' }, heartbeat_interval: 30 });
  await vi.advanceTimersByTimeAsync(0);
}

/** Indexes of the requests for `method` that `s` sent, in order. */
export function requestsOf(s: FakeSocket, method: string): number[] {
  return s.sent.flatMap((_, n) => (s.request(n).method === method ? [n] : []));
}
