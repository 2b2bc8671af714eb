// The app's side of offline push (`aun-worker/push`): subscribe with PushManager, register the
// subscription with the push agent (which answers with a push token), hand the token to the
// owner (push.update_config; the owner then carries it on every reconnect), and renew the token
// before it expires while a tab is open.

/** The one call the helper needs from a connected AunClient. */
export interface PushCapableClient {
  call(method: 'push.update_config', params: { push_notify_aid?: string | null; push_token?: string | null }): Promise<{ success: true; stored: boolean }>;
}

export interface OfflinePushOptions {
  /** The push agent's HTTP base, e.g. http://127.0.0.1:7710. */
  agentUrl: string;
  /** The logged-in AID. */
  aid: string;
  /** The service worker registration that shows the notifications (it imports `aun-worker/push-sw`). */
  registration: ServiceWorkerRegistration;
  /** Renew this long before the token expires, ms (default one day, at least half its lifetime). */
  renewBeforeMs?: number;
  /** Replaces PushManager.subscribe (tests, or a browser without a push service). */
  subscribe?: (vapidPublicKey: string) => Promise<PushSubscriptionJSON>;
  fetch?: typeof fetch;
}

export interface OfflinePush {
  pushNotifyAid: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** False when the gateway did not take the config (agent not on its allow-list, other domain). */
  stored: boolean;
  endpoint: string;
  /** Stops the renewal timer. */
  stop(): void;
}

export class OfflinePushError extends Error {
  override name = 'OfflinePushError';
}

const DAY_MS = 86_400_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

async function json<T>(res: Response, what: string): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new OfflinePushError(`${what}: push agent answered ${res.status}${body.error ? ` (${body.error})` : ''}`);
  return body;
}

async function pushManagerSubscription(registration: ServiceWorkerRegistration, vapidPublicKey: string): Promise<PushSubscriptionJSON> {
  if (!('pushManager' in registration)) throw new OfflinePushError('this browser has no Push API (Safari needs the app installed to the Home Screen, 16.4+)');
  if (typeof Notification !== 'undefined' && Notification.permission !== 'granted') {
    if ((await Notification.requestPermission()) !== 'granted') throw new OfflinePushError('notification permission was not granted');
  }
  const existing = await registration.pushManager.getSubscription();
  const sub = existing ?? await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: vapidPublicKey });
  return sub.toJSON();
}

/** Turns offline push on for `aid` in this browser. Call it at every start while the user wants it: it renews the token. */
export async function enableOfflinePush(client: PushCapableClient, opts: OfflinePushOptions): Promise<OfflinePush> {
  const doFetch = opts.fetch ?? fetch.bind(globalThis);
  const base = opts.agentUrl.replace(/\/$/, '');
  const { public_key: vapidKey } = await json<{ public_key: string }>(await doFetch(`${base}/vapid-public-key`), 'vapid key');
  const subscription = await (opts.subscribe ? opts.subscribe(vapidKey) : pushManagerSubscription(opts.registration, vapidKey));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  async function register(): Promise<{ agent: string; expiresAt: number; stored: boolean }> {
    const reg = await json<{ push_notify_aid: string; push_token: string; expires_at: number }>(await doFetch(`${base}/subscribe`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ aid: opts.aid, subscription }),
    }), 'subscribe');
    const { stored } = await client.call('push.update_config', { push_notify_aid: reg.push_notify_aid, push_token: reg.push_token });
    schedule(reg.expires_at);
    return { agent: reg.push_notify_aid, expiresAt: reg.expires_at, stored };
  }

  function schedule(expiresAt: number): void {
    if (stopped) return;
    const lifetime = expiresAt * 1000 - Date.now();
    const before = Math.min(opts.renewBeforeMs ?? DAY_MS, lifetime / 2);
    timer = setTimeout(() => void register().catch(() => schedule(expiresAt)), Math.min(MAX_TIMER_MS, Math.max(1000, lifetime - before)));
  }

  const first = await register();
  return {
    pushNotifyAid: first.agent,
    expiresAt: first.expiresAt,
    stored: first.stored,
    endpoint: subscription.endpoint ?? '',
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Turns it off: the gateway forgets the config, the agent the subscription, the browser unsubscribes. */
export async function disableOfflinePush(client: PushCapableClient, opts: Pick<OfflinePushOptions, 'agentUrl' | 'registration' | 'fetch'>): Promise<void> {
  const doFetch = opts.fetch ?? fetch.bind(globalThis);
  await client.call('push.update_config', { push_notify_aid: null, push_token: null });
  const sub = 'pushManager' in opts.registration ? await opts.registration.pushManager.getSubscription().catch(() => null) : null;
  if (sub) {
    await doFetch(`${opts.agentUrl.replace(/\/$/, '')}/unsubscribe`, { method: 'POST', body: JSON.stringify({ endpoint: sub.endpoint }) }).catch(() => undefined);
    await sub.unsubscribe().catch(() => false);
  }
}
