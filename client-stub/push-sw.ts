// The service-worker side of offline push (`aun-worker/push-sw`): on `push`, one notification
// built from metadata only (who, how many); on `notificationclick`, focus an open tab of the app
// or open it. The page that opens reconnects and catches up through the log; the push carries
// no messages.

import type { OfflinePushPayload } from '../protocol/events.ts';

export type { OfflinePushPayload };

export interface PushNotice {
  title: string;
  options: NotificationOptions & { data: { url: string; target_aid: string; senders: string[] } };
}

export interface PushSwOptions {
  /** The page to open or focus on click; gets the payload (default: the registration's scope). */
  url?: (payload: OfflinePushPayload) => string;
  icon?: string;
}

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v.slice(0, 255) : fallback;
}

/** Reads a push payload defensively: anything malformed becomes a generic notice, never a throw. */
export function readPayload(data: unknown): OfflinePushPayload {
  const p = (typeof data === 'object' && data !== null ? data : {}) as Partial<OfflinePushPayload>;
  const senders = Array.isArray(p.senders) ? p.senders.filter((s): s is string => typeof s === 'string').map((s) => s.slice(0, 255)) : [];
  const count = Number.isInteger(p.unread_count) && p.unread_count! > 0 ? p.unread_count! : 1;
  return {
    v: 1,
    target_aid: str(p.target_aid),
    unread_count: count,
    senders,
    sender_count: Number.isInteger(p.sender_count) && p.sender_count! >= senders.length ? p.sender_count! : senders.length,
    latest_ts: typeof p.latest_ts === 'number' ? p.latest_ts : 0,
    group_ids: Array.isArray(p.group_ids) ? p.group_ids.filter((g): g is string => typeof g === 'string') : [],
  };
}

/** "New message from alice.aun.local", "3 new messages from alice.aun.local and 1 other". */
export function describePush(payload: OfflinePushPayload, url: string): PushNotice {
  const n = payload.unread_count;
  const first = payload.senders[0];
  const others = Math.max(0, payload.sender_count - 1);
  const what = n === 1 ? 'New message' : `${n} new messages`;
  const from = first ? ` from ${first}${others > 0 ? ` and ${others} other${others === 1 ? '' : 's'}` : ''}` : '';
  const where = payload.group_ids.length > 0 ? ` (${payload.group_ids.length === 1 ? 'a group' : `${payload.group_ids.length} groups`})` : '';
  return {
    title: `${what}${from}${where}`,
    options: {
      body: payload.target_aid ? `for ${payload.target_aid}` : '',
      // One notification per target: a newer summary replaces the older one.
      tag: `aun-push:${payload.target_aid}`,
      data: { url, target_aid: payload.target_aid, senders: payload.senders },
    },
  };
}

/** Focuses a tab of the app (navigating it to `url`) or opens one. Kept apart so tests can call it. */
export async function openApp(clients: Clients, url: string): Promise<void> {
  const target = new URL(url);
  const windows = await clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).origin === target.origin) as WindowClient | undefined;
  if (open) {
    await open.focus();
    if (open.url !== target.href) await open.navigate(target.href).catch(() => null);
    return;
  }
  await clients.openWindow(target.href);
}

interface SwScope {
  registration: ServiceWorkerRegistration;
  clients: Clients;
  addEventListener(type: 'push', fn: (e: PushEvent) => void): void;
  addEventListener(type: 'notificationclick', fn: (e: NotificationEvent) => void): void;
}

function payloadOf(e: PushEvent): unknown {
  try {
    return e.data?.json();
  } catch {
    return null;
  }
}

/** Installs the two handlers on the service worker's global scope: `installPushHandlers(self)`. */
export function installPushHandlers(scope: SwScope, options: PushSwOptions = {}): void {
  const urlFor = options.url ?? (() => scope.registration.scope);
  scope.addEventListener('push', (e) => {
    const payload = readPayload(payloadOf(e));
    const notice = describePush(payload, urlFor(payload));
    if (options.icon) notice.options.icon = options.icon;
    e.waitUntil(scope.registration.showNotification(notice.title, notice.options));
  });
  scope.addEventListener('notificationclick', (e) => {
    e.notification.close();
    const url = (e.notification.data as { url?: unknown } | null)?.url;
    e.waitUntil(openApp(scope.clients, typeof url === 'string' ? url : scope.registration.scope));
  });
}
