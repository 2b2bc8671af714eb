// The conversations of the logged-in AID, built from the client's events: 1:1 conversations by
// peer AID, group conversations by group id, unread counts against the read marks, and the
// delivery state of this tab's own sends. No DOM here: the views listen to the changes.
//
// Own messages reach every tab as logged `outbound` events (the owner logs a send once the
// gateway took it). The tab that sent also holds a local "sending" entry until send() answers;
// whichever of the two arrives second merges into the first, so a message is shown once.

import type { GroupChange, GroupInboundMessage, InboundMessage, JsonObject } from '../../client-stub/index.ts';
import type { ReadMarks } from './storage.ts';

export type Delivery = 'sending' | 'sent' | 'queued' | 'failed';
export type ConversationKind = 'p2p' | 'group';

export interface ChatMessage {
  /** `in:<id>` | `own:<id>` | `pending:<n>` | `change:<seq>`; stable but for pending → own. */
  key: string;
  system: boolean;
  messageId: string | null;
  from: string;
  text: string;
  encrypted: boolean;
  mine: boolean;
  at: number;
  /** Position in the AID's local log; 0 for what only this tab knows (a send in progress). */
  lsn: number;
  /** Own messages only. */
  delivery: Delivery | null;
  error: string | null;
  /** Its sender recalled it: the text is gone (shown as "message recalled"). */
  recalled?: boolean;
}

export interface Conversation {
  /** `p2p:<aid>` or `group:<group id>`. */
  id: string;
  kind: ConversationKind;
  /** The peer AID or the group id. */
  peer: string;
  name: string;
  messages: ChatMessage[];
  unread: number;
  lastAt: number;
  lastLsn: number;
  /** A group this AID is no longer a member of. */
  left: boolean;
}

export interface ChatsListener {
  message(conversation: Conversation, message: ChatMessage, op: 'add' | 'update' | 'remove'): void;
  /** The list, a name, a preview or an unread count changed. */
  list(): void;
  contactAdded(aid: string): void;
  read(conversation: Conversation, lsn: number): void;
}

/** What send() or groups.send() answered. */
export type SendOutcome = { messageId: string; queued: boolean } | { error: string };

const SELF_GONE = new Set(['member_removed', 'member_left', 'dissolved']);

export function conversationId(kind: ConversationKind, peer: string): string {
  return `${kind}:${peer}`;
}

/**
 * When the sender pressed Send: the demo's payloads carry `sentAt`, so a message that waited in
 * an outbox or arrived late shows its send time; other clients' messages show the gateway's time.
 */
export function sentAtOf(payload: JsonObject, fallback: number): number {
  const at = payload.sentAt;
  return typeof at === 'number' && Number.isFinite(at) && at > 0 ? at : fallback;
}

/** The short, stable tail of a group id (`27e6` of `g-…27e6.aun.local`), to tell same-named groups apart. */
export function groupTag(groupId: string): string {
  return (groupId.split('.')[0] ?? groupId).replace(/^g-/, '').slice(0, 4);
}

export const RECALLED_TEXT = 'message recalled';

export function textOf(payload: JsonObject): string {
  return typeof payload.text === 'string' ? payload.text : JSON.stringify(payload);
}

export class Chats {
  readonly conversations = new Map<string, Conversation>();
  private openId: string | null = null;
  private readonly index = new Map<string, Map<string, ChatMessage>>();
  private readonly ownById = new Map<string, { conversation: Conversation; message: ChatMessage }>();
  /** send.failed notices for ids this tab has not bound to a message yet. */
  private readonly failedIds = new Map<string, string>();
  private pendingSeq = 0;

  constructor(readonly self: string, private readonly on: ChatsListener, private marks: ReadMarks = {}) {}

  get open(): Conversation | null {
    return this.openId ? this.conversations.get(this.openId) ?? null : null;
  }

  /** Conversations, most recent activity first. */
  list(): Conversation[] {
    return [...this.conversations.values()].sort((a, b) => b.lastAt - a.lastAt || a.name.localeCompare(b.name));
  }

  ensure(kind: ConversationKind, peer: string, name?: string): Conversation {
    const id = conversationId(kind, peer);
    let c = this.conversations.get(id);
    if (!c) {
      c = { id, kind, peer, name: name ?? peer, messages: [], unread: 0, lastAt: 0, lastLsn: 0, left: false };
      this.conversations.set(id, c);
      this.index.set(id, new Map());
      if (kind === 'p2p') this.on.contactAdded(peer);
      this.on.list();
    } else if (name && c.name !== name) {
      c.name = name;
      this.on.list();
    }
    return c;
  }

  /** A logged message event; `lsn` is its position in the local log. */
  receive(m: InboundMessage | GroupInboundMessage, lsn: number): void {
    const group = 'groupId' in m;
    // A note to self also comes back inbound: it is the same message as the outbound copy.
    const mine = m.direction !== 'inbound' || (!group && m.from === this.self);
    const peer = group ? m.groupId : m.direction === 'inbound' ? m.from : m.to;
    const c = this.ensure(group ? 'group' : 'p2p', peer);
    const recalled = m.recalled === true;
    const text = recalled ? RECALLED_TEXT : textOf(m.payload);
    if (mine) {
      const known = this.ownById.get(m.messageId);
      if (known) {
        Object.assign(known.message, { delivery: 'sent', error: null, lsn, text, encrypted: m.encrypted, recalled });
        this.touch(known.conversation, known.message);
        this.on.message(known.conversation, known.message, 'update');
        return;
      }
    }
    const key = `${mine ? 'own' : 'in'}:${m.messageId}`;
    if (this.index.get(c.id)!.has(key)) return;
    this.add(c, {
      key, system: false, messageId: m.messageId, from: m.from, text, encrypted: m.encrypted, mine,
      at: sentAtOf(m.payload, m.timestamp), lsn, delivery: mine ? 'sent' : null, error: null, recalled,
    });
  }

  /** Messages their sender recalled (in any tab, on any device): their text is gone here too. */
  recall(messageIds: readonly string[]): void {
    for (const id of messageIds) {
      for (const c of this.conversations.values()) {
        const idx = this.index.get(c.id)!;
        for (const m of [idx.get(`own:${id}`), idx.get(`in:${id}`)]) {
          if (!m || m.recalled) continue;
          Object.assign(m, { recalled: true, text: RECALLED_TEXT });
          this.on.message(c, m, 'update');
        }
      }
    }
    this.on.list();
  }

  /** A logged group membership change, shown as a line in the group. */
  change(ch: GroupChange, lsn: number): void {
    const c = this.ensure('group', ch.groupId);
    const key = `change:${ch.eventSeq}`;
    if (this.index.get(c.id)!.has(key)) return;
    if (ch.member === this.self || ch.action === 'dissolved') c.left = SELF_GONE.has(ch.action);
    this.add(c, {
      key, system: true, messageId: null, from: ch.actor, text: this.describe(ch), encrypted: false, mine: false,
      at: ch.at, lsn, delivery: null, error: null,
    });
  }

  /**
   * A send this tab starts; returns the key to settle it with. `queued` when the session is down
   * already: the message waits in the outbox, and saying "sending…" until the deadline would lie.
   */
  startSend(c: Conversation, text: string, encrypted: boolean, opts: { at?: number; delivery?: 'sending' | 'queued' } = {}): string {
    const key = `pending:${++this.pendingSeq}`;
    const { at = Date.now(), delivery = 'sending' } = opts;
    this.add(c, { key, system: false, messageId: null, from: this.self, text, encrypted, mine: true, at, lsn: 0, delivery, error: null });
    return key;
  }

  /** The session went down: this tab's sends in progress now wait in the outbox. */
  queueSending(): void {
    for (const c of this.conversations.values()) {
      for (const m of c.messages) {
        if (m.delivery !== 'sending') continue;
        m.delivery = 'queued';
        this.on.message(c, m, 'update');
      }
    }
  }

  /** True when every message of the conversation so far travelled end-to-end encrypted. */
  encryptedThroughout(c: Conversation): boolean {
    return c.messages.every((m) => m.system || m.encrypted);
  }

  /** The name shown for a conversation: a group's name gets its id's tag when another group has the same name. */
  label(c: Conversation): string {
    if (c.kind !== 'group') return c.name;
    for (const other of this.conversations.values()) {
      if (other !== c && other.kind === 'group' && other.name === c.name) return `${c.name} #${groupTag(c.peer)}`;
    }
    return c.name;
  }

  /** A group's label by id (its id's tag while the name is not known yet). */
  groupLabel(groupId: string): string {
    const c = this.conversations.get(conversationId('group', groupId));
    return c && c.name !== groupId ? this.label(c) : `group #${groupTag(groupId)}`;
  }

  settleSend(c: Conversation, key: string, outcome: SendOutcome): void {
    const idx = this.index.get(c.id)!;
    const m = idx.get(key);
    if (!m) return;
    if ('error' in outcome) {
      Object.assign(m, { delivery: 'failed', error: outcome.error });
      this.on.message(c, m, 'update');
      return;
    }
    const logged = this.ownById.get(outcome.messageId);
    if (logged) {
      // The logged copy came first: it stands for this send.
      idx.delete(key);
      c.messages.splice(c.messages.indexOf(m), 1);
      this.on.message(c, m, 'remove');
      return;
    }
    idx.delete(key);
    m.key = `own:${outcome.messageId}`;
    m.messageId = outcome.messageId;
    idx.set(m.key, m);
    this.ownById.set(outcome.messageId, { conversation: c, message: m });
    const failed = this.failedIds.get(outcome.messageId);
    this.failedIds.delete(outcome.messageId);
    Object.assign(m, failed ? { delivery: 'failed', error: failed } : { delivery: outcome.queued ? 'queued' : 'sent' });
    this.on.message(c, m, 'update');
  }

  /** The gateway refused, for good, a message that had been queued. */
  sendFailed(messageId: string, error: string): void {
    const known = this.ownById.get(messageId);
    if (!known) {
      this.failedIds.set(messageId, error);
      return;
    }
    Object.assign(known.message, { delivery: 'failed', error });
    this.on.message(known.conversation, known.message, 'update');
  }

  /** Opens a conversation (null closes it): its unread count is cleared and the mark saved. */
  openConversation(id: string | null): Conversation | null {
    this.openId = id;
    const c = this.open;
    if (c) this.markRead(c);
    this.on.list();
    return c;
  }

  /** Read marks changed in another tab. */
  applyReadMarks(marks: ReadMarks): void {
    this.marks = marks;
    for (const c of this.conversations.values()) {
      const mark = marks[c.id] ?? 0;
      c.unread = c.id === this.openId ? 0 : c.messages.filter((m) => !m.mine && !m.system && m.lsn > mark).length;
    }
    this.on.list();
  }

  private add(c: Conversation, m: ChatMessage): void {
    c.messages.push(m);
    this.index.get(c.id)!.set(m.key, m);
    if (m.mine && m.messageId) this.ownById.set(m.messageId, { conversation: c, message: m });
    this.touch(c, m);
    if (!m.mine && !m.system && m.lsn > (this.marks[c.id] ?? 0)) {
      if (c.id === this.openId) this.markRead(c);
      else c.unread++;
    }
    this.on.message(c, m, 'add');
    this.on.list();
  }

  private touch(c: Conversation, m: ChatMessage): void {
    c.lastAt = Math.max(c.lastAt, m.at);
    c.lastLsn = Math.max(c.lastLsn, m.lsn);
  }

  private markRead(c: Conversation): void {
    c.unread = 0;
    if (c.lastLsn <= (this.marks[c.id] ?? 0)) return;
    this.marks = { ...this.marks, [c.id]: c.lastLsn };
    this.on.read(c, c.lastLsn);
  }

  private describe(ch: GroupChange): string {
    const who = (aid: string | null) => (aid === this.self ? 'you' : aid ?? 'someone');
    switch (ch.action) {
      case 'member_added': return `${who(ch.actor)} added ${who(ch.member)}`;
      case 'member_removed': return `${who(ch.actor)} removed ${who(ch.member)}`;
      case 'member_left': return `${who(ch.member ?? ch.actor)} left`;
      case 'dissolved': return `${who(ch.actor)} dissolved the group`;
      case 'role_changed': return `${who(ch.actor)} made ${who(ch.member)} ${ch.newRole === 'admin' ? 'an admin' : `a ${ch.newRole ?? 'member'}`}`;
      case 'owner_transferred': return `${who(ch.oldOwner ?? ch.actor)} handed the group to ${who(ch.newOwner ?? ch.member)}`;
      case 'invite_code_used': return `${who(ch.member)} joined with an invite code`;
      case 'invite_code_created': return `${who(ch.actor)} created an invite code`;
      case 'rules_updated': return `${who(ch.actor)} updated the rules`;
      case 'announcement_updated': return `${who(ch.actor)} updated the announcement`;
      case 'update': return `${who(ch.actor)} changed the group settings`;
      case 'suspended': return `${who(ch.actor)} suspended the group`;
      case 'resumed': return `${who(ch.actor)} resumed the group`;
      default: return `${who(ch.actor)}: ${ch.action.replace(/_/g, ' ')}`;
    }
  }
}

/** The first label of an AID (`alice` for `alice.aun.local`), for tight spots; the full AID goes in a title. */
export function shortName(aid: string): string {
  return aid.split('.')[0] || aid;
}
