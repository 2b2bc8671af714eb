// Offline push on the client side: the notification text a push makes (metadata only, hostile
// payloads included), the click handler's focus-or-open, the app helper's registration and
// renewal, and the push config the owner carries in auth.connect.

import { describe, expect, it, vi } from 'vitest';
import { describePush, installPushHandlers, openApp, readPayload } from '../../../client-stub/push-sw.ts';
import { enableOfflinePush, OfflinePushError, type PushCapableClient } from '../../../client-stub/push.ts';
import { connectParams } from '../../../worker/session/connect.ts';
import { pushConfigFromUpdate } from '../../../worker/session/push-config.ts';

const payload = { v: 1 as const, target_aid: 'bob.aun.local', unread_count: 1, senders: ['alice.aun.local'], sender_count: 1, latest_ts: 1, group_ids: [] };

describe('push-sw: the notification', () => {
  it('names the sender and the count, never content', () => {
    expect(describePush(payload, 'https://app/').title).toBe('New message from alice.aun.local');
    const many = describePush({ ...payload, unread_count: 3, senders: ['alice.aun.local', 'carol.aun.local'], sender_count: 2, group_ids: ['g-1.aun.local'] }, 'https://app/');
    expect(many.title).toBe('3 new messages from alice.aun.local and 1 other (a group)');
    expect(many.options).toMatchObject({ tag: 'aun-push:bob.aun.local', data: { url: 'https://app/', target_aid: 'bob.aun.local' } });
  });

  it('turns a hostile or empty payload into a generic notice', () => {
    for (const bad of [null, 42, 'x', [], { unread_count: -5, senders: 'nope', sender_count: 'x' }, { senders: [1, {}, 'a'.repeat(10_000)] }]) {
      const p = readPayload(bad);
      expect(p.unread_count).toBeGreaterThan(0);
      expect(() => describePush(p, 'https://app/')).not.toThrow();
      expect(describePush(p, 'https://app/').title.length).toBeLessThan(400);
    }
    expect(describePush(readPayload(null), 'https://app/').title).toBe('New message');
  });

  it('shows the notification on push and opens the app on click', async () => {
    const handlers: Record<string, (e: unknown) => void> = {};
    const shown: [string, NotificationOptions][] = [];
    const opened: string[] = [];
    const scope = {
      registration: { scope: 'https://app/', showNotification: async (t: string, o: NotificationOptions) => { shown.push([t, o]); } },
      clients: { matchAll: async () => [], openWindow: async (u: string) => { opened.push(u); return null; } },
      addEventListener: (type: string, fn: (e: unknown) => void) => { handlers[type] = fn; },
    };
    installPushHandlers(scope as never, { url: (p) => `https://app/?chat=${p.senders[0]}` });
    const waits: Promise<unknown>[] = [];
    handlers.push!({ data: { json: () => payload }, waitUntil: (p: Promise<unknown>) => waits.push(p) });
    await Promise.all(waits);
    expect(shown[0]![0]).toBe('New message from alice.aun.local');
    const close = vi.fn();
    handlers.notificationclick!({ notification: { close, data: shown[0]![1].data }, waitUntil: (p: Promise<unknown>) => waits.push(p) });
    await Promise.all(waits);
    expect(close).toHaveBeenCalled();
    expect(opened).toEqual(['https://app/?chat=alice.aun.local']);
  });

  it('focuses an open tab of the app instead of opening another', async () => {
    const focus = vi.fn(async () => undefined);
    const navigate = vi.fn(async () => null);
    const openWindow = vi.fn();
    const clients = { matchAll: async () => [{ url: 'https://app/', focus, navigate }], openWindow };
    await openApp(clients as never, 'https://app/?chat=x');
    expect(focus).toHaveBeenCalled();
    expect(navigate).toHaveBeenCalledWith('https://app/?chat=x');
    expect(openWindow).not.toHaveBeenCalled();
  });
});

describe('push helper: registration with the push agent', () => {
  it('registers the subscription, hands the token to the owner and renews it before expiry', async () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      const fetchFn = vi.fn(async (url: string, init?: RequestInit) => {
        if (url.endsWith('/vapid-public-key')) return Response.json({ public_key: 'BKEY', push_notify_aid: 'notifier.aun.local' });
        expect(JSON.parse(String(init!.body))).toEqual({ aid: 'bob.aun.local', subscription: { endpoint: 'https://push/1', keys: { p256dh: 'p', auth: 'a' } } });
        n++;
        return Response.json({ push_notify_aid: 'notifier.aun.local', push_token: `tok-${n}`, expires_at: Math.floor(Date.now() / 1000) + 7200 });
      });
      const calls: unknown[] = [];
      const client: PushCapableClient = { call: async (_m, p) => { calls.push(p); return { success: true, stored: true }; } };
      const subscribe = vi.fn(async (key: string) => { expect(key).toBe('BKEY'); return { endpoint: 'https://push/1', keys: { p256dh: 'p', auth: 'a' } }; });
      const on = await enableOfflinePush(client, {
        agentUrl: 'http://agent/', aid: 'bob.aun.local', registration: {} as ServiceWorkerRegistration, subscribe, fetch: fetchFn as never, renewBeforeMs: 3_600_000,
      });
      expect(on).toMatchObject({ pushNotifyAid: 'notifier.aun.local', stored: true, endpoint: 'https://push/1' });
      expect(calls).toEqual([{ push_notify_aid: 'notifier.aun.local', push_token: 'tok-1' }]);
      await vi.advanceTimersByTimeAsync(3_600_000 - 1_000);
      expect(calls).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(calls).toEqual([{ push_notify_aid: 'notifier.aun.local', push_token: 'tok-1' }, { push_notify_aid: 'notifier.aun.local', push_token: 'tok-2' }]);
      on.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports an agent refusal as an OfflinePushError', async () => {
    const fetchFn = async (url: string) => (url.endsWith('/vapid-public-key') ? Response.json({ public_key: 'K' }) : Response.json({ error: 'this push agent serves aun.local only' }, { status: 400 }));
    const client: PushCapableClient = { call: async () => ({ success: true, stored: true }) };
    await expect(enableOfflinePush(client, {
      agentUrl: 'http://agent', aid: 'bob.other', registration: {} as ServiceWorkerRegistration, fetch: fetchFn as never,
      subscribe: async () => ({ endpoint: 'https://push/1', keys: {} }),
    })).rejects.toThrow(OfflinePushError);
  });
});

describe('owner: the push config in auth.connect', () => {
  it('carries the last config as top-level auth.connect params, and nothing without one', () => {
    const config = { push_notify_aid: 'notifier.aun.local', push_token: 'pt1.x.y' };
    expect(connectParams('n', 't', { deviceId: 'd', slotId: 's', push: () => config })).toMatchObject(config);
    const plain = connectParams('n', 't', { deviceId: 'd', slotId: 's', push: () => null });
    expect('push_notify_aid' in plain || 'push_token' in plain).toBe(false);
  });

  it('reads push.update_config params: set, clear, or leave unchanged', () => {
    expect(pushConfigFromUpdate({ push_notify_aid: 'a.b', push_token: 't' })).toEqual({ push_notify_aid: 'a.b', push_token: 't' });
    expect(pushConfigFromUpdate({})).toBeNull();
    expect(pushConfigFromUpdate({ push_notify_aid: null, push_token: null })).toBeNull();
    expect(pushConfigFromUpdate({ push_notify_aid: 'a.b' })).toBeUndefined();
    expect(pushConfigFromUpdate(null)).toBeUndefined();
  });
});
