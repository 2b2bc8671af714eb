// "Notify me when closed": the demo's offline-push toggle. On: register the demo's service
// worker, subscribe, register with the push agent (`?push_agent=`, default the one `npm start`
// runs) and hand the token to the owner. The choice is remembered per AID and renewed at login.

/// <reference types="vite/client" />
import swUrl from '../sw.ts?worker&url';
import type { AunClient } from '../../client-stub/index.ts';
import { disableOfflinePush, enableOfflinePush, type OfflinePush } from '../../client-stub/push.ts';
import { byId, clearError, showError } from './dom.ts';

const DEFAULT_AGENT = 'http://127.0.0.1:7710';
const key = (aid: string) => `aun-demo:push:${aid}`;

declare global {
  /** Test seam: e2e tests replace PushManager.subscribe (headless Chromium has no push service). */
  var __aunPushSubscribe: ((vapidKey: string) => Promise<PushSubscriptionJSON>) | undefined;
}

export class PushToggle {
  private aid: string | null = null;
  private active: OfflinePush | null = null;
  private readonly box = byId<HTMLInputElement>('notify-closed');
  private readonly label = byId('notify-closed-label');

  constructor(private readonly client: AunClient, private readonly agentUrl: string, private readonly gateway: string | null) {
    this.box.addEventListener('change', () => void this.apply(this.box.checked));
  }

  /** Logged in as `aid` (null: logged out): restores, and so renews, the AID's choice. */
  show(aid: string | null): void {
    this.active?.stop();
    this.active = null;
    this.aid = aid;
    this.box.checked = aid !== null && localStorage.getItem(key(aid)) === 'on';
    this.label.dataset.state = 'off';
    if (this.box.checked) void this.apply(true);
  }

  private async registration(): Promise<ServiceWorkerRegistration> {
    const url = this.gateway ? `${swUrl}?${new URLSearchParams({ gateway: this.gateway })}` : swUrl;
    // The bundled script lives under /assets/, so that is its scope and it controls no page:
    // navigator.serviceWorker.ready would never resolve. Push and notifications need only an
    // active worker.
    const reg = await navigator.serviceWorker.register(url, { type: 'module' });
    const pending = reg.installing ?? reg.waiting;
    if (!reg.active && pending) {
      await new Promise<void>((resolve) => {
        pending.addEventListener('statechange', () => { if (pending.state === 'activated' || pending.state === 'redundant') resolve(); });
      });
    }
    return reg;
  }

  private async apply(on: boolean): Promise<void> {
    const aid = this.aid;
    if (!aid) return;
    this.label.dataset.state = 'busy';
    try {
      const registration = await this.registration();
      if (on) {
        this.active?.stop();
        const subscribe = globalThis.__aunPushSubscribe;
        this.active = await enableOfflinePush(this.client, { agentUrl: this.agentUrl, aid, registration, ...(subscribe ? { subscribe } : {}) });
        if (!this.active.stored) throw new Error(`the gateway did not accept ${this.active.pushNotifyAid} as a push agent (is it in --push-agents?)`);
        localStorage.setItem(key(aid), 'on');
      } else {
        this.active?.stop();
        this.active = null;
        localStorage.removeItem(key(aid));
        await disableOfflinePush(this.client, { agentUrl: this.agentUrl, registration });
      }
      if (this.aid === aid) this.label.dataset.state = on ? 'on' : 'off';
      clearError();
    } catch (err) {
      if (this.aid === aid) {
        this.box.checked = false;
        this.label.dataset.state = 'off';
      }
      showError(err);
    }
  }

  static agentFrom(query: URLSearchParams): string {
    return query.get('push_agent') ?? DEFAULT_AGENT;
  }
}
