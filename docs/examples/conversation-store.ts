// A reusable, framework-free store of 1:1 conversations built on the aun-worker client: the kind
// of wrapper a library author publishes. It exposes subscribe()/getSnapshot(), so React can read it
// with useSyncExternalStore, and Svelte, Vue or plain DOM code can subscribe the same way.
//
// Inside this repository `aun-worker/client` resolves to the sources (tsconfig.json `paths`), so
// `npm run typecheck` proves the example matches the real client.
import type { AunClient, ClientEventMap, InboundMessage, JsonObject, LoginOptions, SessionSnapshot } from 'aun-worker/client';

/**
 * The part of the client the store uses. Any AunClient fits; so does a small fake in a test. The
 * compiler checks the fake against the real signatures.
 */
export type ConversationClient = Pick<AunClient, 'on' | 'login' | 'logout' | 'send'>;

export type MessageStatus =
  /** Handed to the client; no answer yet. */
  | 'sending'
  /** The gateway took it. */
  | 'sent'
  /** Offline: waiting in the worker's outbox; it goes out by itself after the next reconnect. */
  | 'queued'
  /** Refused (at once, or later while queued). */
  | 'failed';

export interface ChatMessage {
  /** The gateway's message id, or a local id while the message is `sending`. */
  id: string;
  peer: string;
  from: string;
  text: string;
  at: number;
  mine: boolean;
  encrypted: boolean;
  status: MessageStatus;
  error?: string;
}

export interface ConversationSnapshot {
  /** The AID logged in through this store, or null. */
  me: string | null;
  /** The session state as the owner last reported it. */
  session: SessionSnapshot['state'] | null;
  /** Peer AID → messages, oldest first. */
  conversations: Readonly<Record<string, readonly ChatMessage[]>>;
  /** Peer AID → inbound messages since the conversation was last marked read. */
  unread: Readonly<Record<string, number>>;
}

const EMPTY: ConversationSnapshot = { me: null, session: null, conversations: {}, unread: {} };

/** The text of a payload, whatever its shape (`{type:'text', text}` is what the demo sends). */
function textOf(payload: JsonObject): string {
  return typeof payload.text === 'string' ? payload.text : JSON.stringify(payload);
}

export class ConversationStore {
  private snapshot = EMPTY;
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[];
  private localIds = 0;

  constructor(private readonly client: ConversationClient) {
    this.offs = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('state', (s) => {
        if (s.aid === this.snapshot.me) this.update({ session: s.state });
      }),
      client.on('send.failed', (f) => this.onSendFailed(f)),
    ];
  }

  // ---- the external-store contract (React: useSyncExternalStore(store.subscribe, store.getSnapshot)) ----

  /** Calls `listener` after every change; returns the unsubscribe function. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The current state: the same object until something changes, a new one after. */
  readonly getSnapshot = (): ConversationSnapshot => this.snapshot;

  // ---- actions ----

  /** Logs in and loads the history this origin has already received (the worker's local log). */
  async login(aid: string, options: LoginOptions = { history: true }): Promise<void> {
    this.update({ me: aid, conversations: {}, unread: {} });
    const s = await this.client.login(aid, options);
    this.update({ session: s.state });
  }

  async logout(): Promise<void> {
    await this.client.logout();
    this.snapshot = EMPTY;
    this.notify();
  }

  /** Sends a text; it shows at once as `sending`, then `sent`, `queued` or `failed`. */
  async send(peer: string, text: string): Promise<void> {
    const me = this.snapshot.me;
    if (!me) throw new Error('log in before sending');
    const local: ChatMessage = {
      id: `local-${++this.localIds}`, peer, from: me, text, at: Date.now(), mine: true, encrypted: true, status: 'sending',
    };
    this.update({ conversations: this.placed(local) });
    try {
      const r = await this.client.send(peer, { type: 'text', text });
      // The owner may have echoed it as an `outbound` message event already: keep that copy.
      const echoed = this.find(peer, r.message_id);
      this.update({ conversations: this.placed(echoed ?? { ...local, id: r.message_id, status: r.status === 'queued' ? 'queued' : 'sent' }, local.id) });
    } catch (e) {
      this.update({ conversations: this.placed({ ...local, status: 'failed', error: e instanceof Error ? e.message : String(e) }) });
      throw e;
    }
  }

  markRead(peer: string): void {
    if (!this.snapshot.unread[peer]) return;
    this.update({ unread: { ...this.snapshot.unread, [peer]: 0 } });
  }

  /** Stops listening to the client; the store keeps its last snapshot. */
  dispose(): void {
    for (const off of this.offs.splice(0)) off();
    this.listeners.clear();
  }

  // ---- internals ----

  private onMessage(m: InboundMessage): void {
    if (m.aid !== this.snapshot.me) return;
    const mine = m.direction !== 'inbound';
    const peer = mine ? m.to : m.from;
    const known = this.find(peer, m.messageId);
    const conversations = this.placed({ id: m.messageId, peer, from: m.from, text: textOf(m.payload), at: m.timestamp, mine, encrypted: m.encrypted, status: 'sent' });
    const unread = mine || known ? this.snapshot.unread : { ...this.snapshot.unread, [peer]: (this.snapshot.unread[peer] ?? 0) + 1 };
    this.update({ conversations, unread });
  }

  private onSendFailed(f: ClientEventMap['send.failed']): void {
    if (f.aid !== this.snapshot.me || f.kind !== 'p2p') return;
    const known = this.find(f.to, f.messageId);
    if (known) this.update({ conversations: this.placed({ ...known, status: 'failed', error: f.error.message }) });
  }

  private find(peer: string, id: string): ChatMessage | undefined {
    return this.snapshot.conversations[peer]?.find((x) => x.id === id);
  }

  /**
   * The conversations with `msg` in its place, in time order, instead of the message with its id
   * (and of the one with `replaces`, a local id that just got its gateway id).
   */
  private placed(msg: ChatMessage, replaces?: string): ConversationSnapshot['conversations'] {
    const list = (this.snapshot.conversations[msg.peer] ?? []).filter((x) => x.id !== msg.id && x.id !== replaces);
    const at = list.findIndex((x) => x.at > msg.at);
    list.splice(at < 0 ? list.length : at, 0, msg);
    return { ...this.snapshot.conversations, [msg.peer]: list };
  }

  private update(patch: Partial<ConversationSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}
