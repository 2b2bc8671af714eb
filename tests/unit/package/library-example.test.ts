// The library-author example (docs/examples/conversation-store.ts) driven through a small fake of
// the client surface it uses. The fake is typed as that Pick<AunClient, …>, so `npm run typecheck`
// proves the example and the fake match the real client's signatures.

import { describe, expect, it } from 'vitest';
import type {
  ClientEventMap, ClientEventName, InboundMessage, JsonObject, LoginOptions, MessageSendResult, QueuedSend, SessionSnapshot,
} from '../../../client-stub/index.ts';
import { ConversationStore, type ConversationClient } from '../../../docs/examples/conversation-store.ts';

const ME = 'alice.example.com';
const BOB = 'bob.example.com';

type SendAnswer = MessageSendResult | QueuedSend | Error;

class FakeClient implements ConversationClient {
  readonly handlers = new Map<ClientEventName, Set<(data: never) => void>>();
  readonly logins: [string, LoginOptions | undefined][] = [];
  readonly sent: { to: string; payload: JsonObject; answer: (a: SendAnswer) => void }[] = [];
  /** Events the owner replays from its local log during login (history). */
  history: InboundMessage[] = [];
  loggedOut = false;

  on<E extends ClientEventName>(event: E, handler: (data: ClientEventMap[E]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as (data: never) => void);
    return () => void set.delete(handler as (data: never) => void);
  }

  emit<E extends ClientEventName>(event: E, data: ClientEventMap[E]): void {
    for (const h of this.handlers.get(event) ?? []) (h as (d: ClientEventMap[E]) => void)(data);
  }

  async login(aid: string, options?: LoginOptions): Promise<SessionSnapshot> {
    this.logins.push([aid, options]);
    for (const m of this.history) this.emit('message', m);
    return { aid, state: 'ready', detail: {}, lastLsn: this.history.length };
  }

  async logout(): Promise<void> {
    this.loggedOut = true;
  }

  send(to: string, payload: JsonObject): Promise<MessageSendResult | QueuedSend> {
    return new Promise((resolve, reject) => {
      this.sent.push({ to, payload, answer: (a) => (a instanceof Error ? reject(a) : resolve(a)) });
    });
  }
}

let seq = 0;
function message(over: Partial<InboundMessage>): InboundMessage {
  seq += 1;
  return {
    aid: ME, messageId: `m${seq}`, from: BOB, to: ME, seq, timestamp: 1_000 + seq, payload: { type: 'text', text: `hi ${seq}` },
    encrypted: true, direction: 'inbound', ...over,
  };
}

const sent = (id: string): MessageSendResult => ({ message_id: id, seq: 1, timestamp: 5_000, status: 'sent', delivery_mode: 'fanout' });

async function loggedIn(history: InboundMessage[] = []) {
  const client = new FakeClient();
  client.history = history;
  const store = new ConversationStore(client);
  await store.login(ME);
  return { client, store };
}

describe('ConversationStore (library-author example)', () => {
  it('logs in with history and files the replayed messages by peer, counting unread', async () => {
    const { client, store } = await loggedIn([message({}), message({ from: 'carol.example.com' })]);
    expect(client.logins).toEqual([[ME, { history: true }]]);
    const s = store.getSnapshot();
    expect(s.me).toBe(ME);
    expect(s.session).toBe('ready');
    expect(Object.keys(s.conversations).sort()).toEqual([BOB, 'carol.example.com']);
    expect(s.conversations[BOB]![0]).toMatchObject({ from: BOB, peer: BOB, mine: false, status: 'sent', encrypted: true });
    expect(s.unread).toEqual({ [BOB]: 1, 'carol.example.com': 1 });
  });

  it('keeps the snapshot identity until something changes (useSyncExternalStore contract)', async () => {
    const { client, store } = await loggedIn();
    const calls: number[] = [];
    const unsubscribe = store.subscribe(() => calls.push(1));
    const before = store.getSnapshot();
    expect(store.getSnapshot()).toBe(before);

    client.emit('message', message({}));
    const after = store.getSnapshot();
    expect(after).not.toBe(before);
    expect(before.conversations[BOB]).toBeUndefined(); // old snapshots are never mutated
    expect(after.conversations[BOB]).toHaveLength(1);
    expect(calls).toHaveLength(1);

    unsubscribe();
    client.emit('message', message({}));
    expect(calls).toHaveLength(1);
  });

  it('shows a send at once, then keeps one copy whichever comes first: the answer or the outbound echo', async () => {
    const { client, store } = await loggedIn();

    const first = store.send(BOB, 'one');
    expect(client.sent[0]).toMatchObject({ to: BOB, payload: { type: 'text', text: 'one' } });
    expect(store.getSnapshot().conversations[BOB]).toEqual([expect.objectContaining({ text: 'one', mine: true, status: 'sending' })]);
    client.sent[0]!.answer(sent('g1'));
    await first;
    client.emit('message', message({ messageId: 'g1', from: ME, to: BOB, direction: 'outbound', payload: { type: 'text', text: 'one' } }));

    const second = store.send(BOB, 'two');
    client.emit('message', message({ messageId: 'g2', from: ME, to: BOB, direction: 'outbound', payload: { type: 'text', text: 'two' } }));
    client.sent[1]!.answer(sent('g2'));
    await second;

    const list = store.getSnapshot().conversations[BOB]!;
    expect(list.map((m) => [m.id, m.text, m.status, m.mine])).toEqual([['g1', 'one', 'sent', true], ['g2', 'two', 'sent', true]]);
    expect(store.getSnapshot().unread[BOB] ?? 0).toBe(0);
  });

  it('marks an offline send queued, then sent when the worker delivers it, or failed when the gateway refuses it later', async () => {
    const { client, store } = await loggedIn();
    const a = store.send(BOB, 'later');
    const b = store.send(BOB, 'never');
    client.sent[0]!.answer({ message_id: 'q1', status: 'queued' });
    client.sent[1]!.answer({ message_id: 'q2', status: 'queued' });
    await Promise.all([a, b]);
    expect(store.getSnapshot().conversations[BOB]!.map((m) => m.status)).toEqual(['queued', 'queued']);

    client.emit('message', message({ messageId: 'q1', from: ME, to: BOB, direction: 'outbound', timestamp: 0 }));
    client.emit('send.failed', { aid: ME, messageId: 'q2', to: BOB, kind: 'p2p', error: { name: 'PermissionError', code: -32003, message: 'blocked' } });
    const byId = Object.fromEntries(store.getSnapshot().conversations[BOB]!.map((m) => [m.id, m]));
    expect(byId.q1).toMatchObject({ status: 'sent' });
    expect(byId.q2).toMatchObject({ status: 'failed', error: 'blocked' });
  });

  it('marks a refused send failed and rethrows the error', async () => {
    const { client, store } = await loggedIn();
    const p = store.send(BOB, 'nope');
    client.sent[0]!.answer(new Error('not a member'));
    await expect(p).rejects.toThrow('not a member');
    expect(store.getSnapshot().conversations[BOB]).toEqual([expect.objectContaining({ status: 'failed', error: 'not a member' })]);
  });

  it('follows the session state, ignores other AIDs, marks read, and stops listening once disposed', async () => {
    const { client, store } = await loggedIn([message({})]);
    client.emit('state', { aid: ME, state: 'backoff', detail: {}, lastLsn: 1 });
    client.emit('state', { aid: 'other.example.com', state: 'closed', detail: {}, lastLsn: 0 });
    client.emit('message', message({ aid: 'other.example.com' }));
    expect(store.getSnapshot().session).toBe('backoff');
    expect(store.getSnapshot().conversations[BOB]).toHaveLength(1);

    store.markRead(BOB);
    expect(store.getSnapshot().unread[BOB]).toBe(0);

    store.dispose();
    expect([...client.handlers.values()].every((s) => s.size === 0)).toBe(true);
    await store.logout();
    expect(client.loggedOut).toBe(true);
    expect(store.getSnapshot().me).toBeNull();
  });

  it('refuses to send before login', async () => {
    const store = new ConversationStore(new FakeClient());
    await expect(store.send(BOB, 'x')).rejects.toThrow('log in before sending');
  });
});
