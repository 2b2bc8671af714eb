// The connection indicator: the session state in #state (its text is the bare state name, the
// tests read it; hidden from people), a friendly label in #state-label, a retry countdown and a
// "Retry now" beside it while in backoff, and a plain banner when the session is down for a
// reason the user should know about (evicted, closed, reconnecting).

import type { SessionSnapshot, SessionStateName } from '../../client-stub/index.ts';
import { byId, el } from './dom.ts';

export interface ConnectionActions {
  /** Log in again after an eviction or a close (an explicit takeover). */
  reconnect(aid: string): void;
  /** Skip the backoff wait. */
  retryNow(): void;
}

/** What people read for each session state (the state names are for developers). */
export const STATE_LABEL: Record<SessionStateName | 'detached', string> = {
  detached: 'Not signed in',
  idle: 'Starting…',
  connecting: 'Connecting…',
  authenticating: 'Signing in…',
  ready: 'Online',
  backoff: 'Offline, reconnecting',
  evicted: 'Signed in elsewhere',
  closed: 'Disconnected',
};

export class ConnectionIndicator {
  private snap: SessionSnapshot | null = null;
  /** The session went down and is coming back: the banner stays through each new attempt. */
  private lost = false;
  private ticker: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly actions: ConnectionActions) {
    byId('retry-now').addEventListener('click', () => this.actions.retryNow());
  }

  /** The session is up: sends go out now rather than wait in the outbox. */
  get online(): boolean {
    return this.snap?.state === 'ready';
  }

  show(snap: SessionSnapshot | null): void {
    this.snap = snap;
    const state = snap?.state ?? 'detached';
    if (state === 'ready' && performance.getEntriesByName('aun:ready').length === 0) performance.mark('aun:ready');
    const pill = byId('state');
    pill.dataset.state = state;
    pill.textContent = state;
    const label = byId('state-label');
    label.dataset.state = state;
    label.textContent = STATE_LABEL[state];
    label.title = describe(snap);
    byId('retry-now').hidden = state !== 'backoff' || snap?.detail.online === false;
    this.banner(snap);
    this.tick();
    const counting = state === 'backoff' && typeof snap?.detail.nextRetryAt === 'number';
    if (counting && !this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
    if (!counting && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  private tick(): void {
    const snap = this.snap;
    const retry = byId('retry');
    if (snap?.state !== 'backoff') {
      retry.textContent = '';
      return;
    }
    const at = snap.detail.nextRetryAt;
    retry.textContent = typeof at === 'number'
      ? `retry in ${Math.max(0, Math.ceil((at - Date.now()) / 1000))} s`
      : 'waiting for the network';
    byId('retry-now').hidden = typeof at !== 'number';
  }

  private banner(snap: SessionSnapshot | null): void {
    const banner = byId('banner');
    const code = typeof snap?.detail.code === 'number' ? snap.detail.code : null;
    const reconnect = (label: string) => {
      const b = el('button', { type: 'button' }, label);
      b.addEventListener('click', () => snap && this.actions.reconnect(snap.aid));
      return b;
    };
    banner.dataset.state = snap?.state ?? 'detached';
    const state = snap?.state;
    if (state === 'backoff') this.lost = true;
    else if (state !== 'connecting' && state !== 'authenticating') this.lost = false;
    switch (this.lost ? 'backoff' : state) {
      case 'evicted':
        banner.replaceChildren(
          el('strong', {}, 'Evicted. '),
          `Another client logged in as ${snap?.aid} on this device's slot${code ? ` (close ${code})` : ''}, so the gateway closed this session. `
          + 'Every tab of this identity is offline and will not reconnect on its own. ',
          reconnect('Take the session back'));
        break;
      case 'closed':
        banner.replaceChildren(
          el('strong', {}, 'Disconnected. '),
          `The gateway closed the session${code ? ` (close ${code})` : ''} and it will not reconnect on its own. `,
          reconnect('Reconnect'));
        break;
      case 'backoff':
        banner.replaceChildren(
          el('strong', {}, 'Connection lost. '),
          'Reconnecting; messages you send meanwhile are queued and go out once the session is back.');
        break;
      default:
        banner.replaceChildren();
    }
    banner.hidden = banner.childElementCount === 0;
  }
}

function describe(snap: SessionSnapshot | null): string {
  if (!snap) return 'not logged in';
  const error = typeof snap.detail.error === 'string' ? `: ${snap.detail.error}` : '';
  return `${snap.aid}: ${STATE_LABEL[snap.state]} (${snap.state})${error}`;
}
