// The typing indicator. Typing in the composer sends an ephemeral `typing` notice (aun.notify) to
// the peer or the group, at most one every TYPING_SEND_MS per conversation; a notice received shows
// "alice is typing…" under the open conversation for TYPING_SHOW_MS, or until that sender's
// message arrives. Notices are never logged: a tab opened later does not see old ones.

import type { AunClient, NotifyEvent } from '../../client-stub/index.ts';
import { shortName, type Conversation } from './chats.ts';
import { byId } from './dom.ts';

/** At most one typing notice per conversation this often (the worker allows 5 a second in all). */
export const TYPING_SEND_MS = 2_000;
/** How long a notice keeps its sender shown as typing. */
export const TYPING_SHOW_MS = 4_000;

export class TypingIndicator {
  /** conversation id → sender → when the indication ends. */
  private readonly typing = new Map<string, Map<string, number>>();
  private readonly lastSent = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly client: AunClient, private readonly open: () => Conversation | null) {
    byId<HTMLInputElement>('compose-text').addEventListener('input', () => this.typed());
  }

  /** A key went into the composer: tell the other side, rate-limited. */
  private typed(): void {
    const c = this.open();
    if (!c || (c.kind === 'group' && c.left) || byId<HTMLInputElement>('compose-text').value === '') return;
    const now = Date.now();
    if (now - (this.lastSent.get(c.id) ?? 0) < TYPING_SEND_MS) return;
    this.lastSent.set(c.id, now);
    const to = c.kind === 'group' ? { groupId: c.peer } : c.peer;
    // Best effort: offline (false) or over the worker's rate limit, the notice is simply not sent.
    void this.client.notify(to, 'typing').catch(() => {});
  }

  /** A notice arrived for this tab's AID. */
  received(n: NotifyEvent): void {
    if (n.kind !== 'typing' || n.from === this.client.loggedInAs) return;
    const id = n.groupId ? `group:${n.groupId}` : `p2p:${n.from}`;
    let senders = this.typing.get(id);
    if (!senders) this.typing.set(id, (senders = new Map()));
    senders.set(n.from, Date.now() + TYPING_SHOW_MS);
    this.render();
  }

  /** `from` sent a message in conversation `id`: it is no longer typing. */
  stopped(id: string, from: string): void {
    if (this.typing.get(id)?.delete(from)) this.render();
  }

  /** Shows who is typing in the open conversation; called again when the next indication ends. */
  render(): void {
    const now = Date.now();
    let next = Infinity;
    for (const [id, senders] of this.typing) {
      for (const [from, until] of senders) {
        if (until <= now) senders.delete(from);
        else next = Math.min(next, until);
      }
      if (senders.size === 0) this.typing.delete(id);
    }
    const c = this.open();
    const who = c ? [...(this.typing.get(c.id)?.keys() ?? [])].map(shortName) : [];
    const line = byId('typing');
    line.textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
    line.hidden = who.length === 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = next === Infinity ? null : setTimeout(() => this.render(), next - now + 10);
  }
}
