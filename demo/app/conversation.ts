// The open conversation: its messages as bubbles (a lock on each end-to-end encrypted one, the
// delivery state and a menu with Recall on our own, "message recalled" for a recalled one), the
// composer, and for a group its panel (group-panel.ts) and an add form.

import type { AunClient, GroupMember } from '../../client-stub/index.ts';
import { shortName, type ChatMessage, type Conversation } from './chats.ts';
import { bottomAppender, byId, clearError, clock, el, showError, shownQueue } from './dom.ts';
import { GroupPanel } from './group-panel.ts';
import { closeMenusOnOutsideClick, messageMenu } from './message-menu.ts';

/** A long conversation opens on its last messages; the rest is one click away. */
const SHOWN = 200;

const DELIVERY_LABEL = { sending: 'sending…', sent: 'sent', queued: 'queued', failed: 'failed' } as const;

export interface ConversationActions {
  send(c: Conversation, text: string, encrypt: boolean): void;
  /** The name shown for a conversation (same-named groups told apart). */
  label(c: Conversation): string;
  /** Whether every message so far was end-to-end encrypted. */
  encryptedThroughout(c: Conversation): boolean;
  /** Recalls one of our own messages of `c`. */
  recall(c: Conversation, messageId: string): void;
}

export class ConversationView {
  private current: Conversation | null = null;
  private readonly shown = new Map<ChatMessage, HTMLLIElement>();
  private showAll = false;
  private membersFor: string | null = null;
  private readonly append = bottomAppender(() => byId('conv-log'));
  /** A background tab draws its changes in one go (see shownQueue). */
  private readonly changes = shownQueue();
  private readonly panel: GroupPanel;

  constructor(private readonly client: AunClient, private readonly actions: ConversationActions) {
    this.panel = new GroupPanel(client);
    closeMenusOnOutsideClick();
    byId<HTMLFormElement>('compose-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = byId<HTMLInputElement>('compose-text');
      const text = input.value.trim();
      if (!this.current || !text) return;
      this.actions.send(this.current, text, byId<HTMLInputElement>('compose-encrypt').checked);
      input.value = '';
    });
    byId<HTMLFormElement>('add-member-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = byId<HTMLInputElement>('member-aid');
      const aid = input.value.trim();
      const c = this.current;
      if (!c || c.kind !== 'group' || !aid) return;
      // Adding fetches the member's keys and re-keys the group: it can take seconds, so say so.
      const button = byId<HTMLButtonElement>('add-member-form').querySelector('button')!;
      const pending = el('li', { class: 'adding', 'data-adding': aid, title: aid }, `adding ${shortName(aid)}…`);
      input.disabled = button.disabled = true;
      button.textContent = 'Adding…';
      byId('members').append(pending);
      this.client.groups.add(c.peer, aid).then(() => {
        input.value = '';
        clearError();
        return this.refreshMembers();
      }).catch(showError).finally(() => {
        pending.remove();
        input.disabled = button.disabled = false;
        button.textContent = 'Add';
      });
    });
  }

  /** The open conversation's name may have become known (a group's, after the list came). */
  syncTitle(): void {
    const title = byId('conv-title');
    const label = this.current && this.actions.label(this.current);
    if (label && title.textContent !== label) title.textContent = label;
  }

  get open(): Conversation | null {
    return this.current;
  }

  show(c: Conversation | null): void {
    // What waits to be drawn is in the model, which this draws whole.
    this.changes.clear();
    const changed = c !== this.current;
    this.current = c;
    this.panel.reset(c?.kind === 'group' ? c.peer : null);
    byId('conv-empty').hidden = c !== null;
    byId('conv-pane').hidden = c === null;
    if (!c) return;
    if (changed) this.showAll = false;
    byId('conversation').dataset.kind = c.kind;
    byId('conv-title').textContent = this.actions.label(c);
    byId('conv-title').title = c.peer;
    this.header();
    this.renderLog();
    if (changed) {
      byId<HTMLInputElement>('compose-text').focus();
      byId('members').replaceChildren();
      this.membersFor = null;
    }
    if (c.kind === 'group') void this.refreshMembers();
  }

  /** A message of some conversation was added, changed or removed. */
  apply(c: Conversation, m: ChatMessage, op: 'add' | 'update' | 'remove'): void {
    if (c === this.current) this.changes.add(() => this.draw(c, m, op));
  }

  private draw(c: Conversation, m: ChatMessage, op: 'add' | 'update' | 'remove'): void {
    if (c !== this.current) return;
    const old = this.shown.get(m);
    if (op === 'remove') {
      old?.remove();
      this.shown.delete(m);
      return;
    }
    if (op === 'update' && !old) return; // among the earlier messages not shown
    const li = this.bubble(m);
    this.shown.set(m, li);
    if (old) {
      old.replaceWith(li);
      return;
    }
    this.append(li, m.mine);
    if (m.system || !m.encrypted) this.header();
  }

  async refreshMembers(): Promise<void> {
    const c = this.current;
    if (!c || c.kind !== 'group' || c.left) return;
    let members: GroupMember[];
    try {
      members = await this.client.groups.members(c.peer);
    } catch {
      if (this.current === c) byId('conv-sub').textContent = 'members unavailable right now';
      return;
    }
    if (this.current !== c) return;
    this.membersFor = c.peer;
    byId('conv-sub').textContent = `${members.length} member${members.length === 1 ? '' : 's'}`;
    await this.panel.show(c.peer, members);
  }

  /** A group's membership changed: its member list is out of date. */
  membershipChanged(groupId: string): void {
    if (this.current?.kind === 'group' && this.current.peer === groupId) {
      this.header();
      void this.refreshMembers();
    }
  }

  private header(): void {
    const c = this.current!;
    const group = c.kind === 'group';
    // The badge speaks for the whole conversation only when it is true of every message in it.
    const whole = this.actions.encryptedThroughout(c);
    byId('conv-e2ee').hidden = !whole;
    byId('conv-mixed').hidden = whole;
    byId('group-panel').hidden = !group || c.left;
    const sub = byId('conv-sub');
    if (!group) sub.textContent = '1:1 conversation';
    else if (c.left) sub.textContent = 'you are no longer a member';
    else if (this.membersFor !== c.peer) sub.textContent = 'group';
    const compose = byId<HTMLFormElement>('compose-form');
    for (const input of compose.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button')) input.disabled = group && c.left;
  }

  /** Renders the open conversation's messages; scrolled to the bottom, or kept where the reader was. */
  private renderLog(keep = false): void {
    const c = this.current!;
    const log = byId('conv-log');
    const fromBottom = log.scrollHeight - log.scrollTop;
    this.shown.clear();
    const hidden = this.showAll ? 0 : Math.max(0, c.messages.length - SHOWN);
    const items: HTMLLIElement[] = [];
    if (hidden > 0) {
      const more = el('button', { type: 'button', class: 'ghost' }, `Show ${hidden} earlier message${hidden === 1 ? '' : 's'}`);
      more.addEventListener('click', () => {
        this.showAll = true;
        this.renderLog(true);
      });
      items.push(el('li', { class: 'msg more' }, more));
    }
    for (const m of c.messages.slice(hidden)) {
      const li = this.bubble(m);
      this.shown.set(m, li);
      items.push(li);
    }
    log.replaceChildren(...items);
    log.scrollTop = keep ? log.scrollHeight - fromBottom : log.scrollHeight;
  }

  private bubble(m: ChatMessage): HTMLLIElement {
    if (m.system) return el('li', { class: 'msg system', 'data-key': m.key }, m.text);
    const c = this.current!;
    const group = c.kind === 'group';
    if (m.recalled) {
      return el('li', { class: `msg recalled ${m.mine ? 'mine' : 'theirs'}`, 'data-key': m.key, 'data-message-id': m.messageId ?? false },
        group && !m.mine && el('span', { class: 'sender', title: m.from }, shortName(m.from)),
        el('span', { class: 'body' }, m.text));
    }
    const lock = m.encrypted
      ? el('img', { class: 'lock', src: '/lock.svg', alt: 'end-to-end encrypted', title: 'end-to-end encrypted', width: 10, height: 12 })
      : el('span', { class: 'plain', title: 'sent without end-to-end encryption' }, 'plaintext');
    const delivery = m.delivery && el('span', { class: 'delivery', title: m.error ?? '' }, DELIVERY_LABEL[m.delivery]);
    return el('li', {
      class: `msg ${m.mine ? 'mine' : 'theirs'}`, 'data-key': m.key, 'data-message-id': m.messageId ?? false,
      'data-encrypted': String(m.encrypted), 'data-delivery': m.delivery ?? false,
    },
    group && !m.mine && el('span', { class: 'sender', title: m.from }, shortName(m.from)),
    el('span', { class: 'body' }, m.text),
    el('span', { class: 'meta' }, lock, el('time', { datetime: new Date(m.at).toISOString() }, clock(m.at)), delivery,
      messageMenu(m, (id) => this.actions.recall(c, id))));
  }
}
