// The demo's recall logic without a browser: a recall turns the message (own or received, live or
// replayed) into "message recalled" once; the menu offers Recall only on one's own sent messages
// within the gateway's two-minute window; invite links give back their code.
import { describe, expect, it } from 'vitest';
import { Chats, RECALLED_TEXT, type ChatMessage, type Conversation } from '../../../demo/app/chats.ts';
import { inviteCodeOf } from '../../../demo/app/group-directory.ts';
import { RECALL_WINDOW_MS, recallable } from '../../../demo/app/message-menu.ts';
import type { InboundMessage } from '../../../client-stub/index.ts';

const ME = 'alice.aun.local';
const BOB = 'bob.aun.local';

function setup() {
  const ops: string[] = [];
  const chats = new Chats(ME, {
    message: (_c: Conversation, m: ChatMessage, op) => ops.push(`${op} ${m.key}`),
    list: () => {},
    contactAdded: () => {},
    read: () => {},
  });
  return { chats, ops };
}

function p2p(over: Partial<InboundMessage>): InboundMessage {
  return { aid: ME, messageId: 'm1', from: BOB, to: ME, seq: 1, timestamp: 1000, payload: { type: 'text', text: 'hi' }, encrypted: true, direction: 'inbound', ...over };
}

describe('demo recall', () => {
  it('a received and an own message recalled become "message recalled", once each', () => {
    const { chats, ops } = setup();
    chats.receive(p2p({ messageId: 'in1', payload: { type: 'text', text: 'oops' } }), 1);
    chats.receive(p2p({ messageId: 'own1', from: ME, to: BOB, direction: 'outbound', payload: { type: 'text', text: 'mine' } }), 2);
    ops.length = 0;
    chats.recall(['in1', 'own1']);
    chats.recall(['in1']);
    const c = chats.conversations.get(`p2p:${BOB}`)!;
    expect(c.messages.map((m) => [m.text, m.recalled])).toEqual([[RECALLED_TEXT, true], [RECALLED_TEXT, true]]);
    expect(ops).toEqual(['update in:in1', 'update own:own1']);
  });

  it('a replayed message its sender recalled (payload gone) shows as recalled, not as "{}"', () => {
    const { chats } = setup();
    chats.receive(p2p({ messageId: 'r1', payload: {}, recalled: true }), 1);
    const [m] = chats.conversations.get(`p2p:${BOB}`)!.messages;
    expect(m).toMatchObject({ text: RECALLED_TEXT, recalled: true });
  });

  it('the menu offers Recall on own sent messages inside the two-minute window only', () => {
    const now = 1_000_000;
    const own: ChatMessage = {
      key: 'own:x', system: false, messageId: 'x', from: ME, text: 't', encrypted: true, mine: true, at: now - 1_000, lsn: 1, delivery: 'sent', error: null,
    };
    expect(recallable(own, now)).toBe(true);
    expect(recallable({ ...own, at: now - RECALL_WINDOW_MS }, now)).toBe(false);
    expect(recallable({ ...own, mine: false, delivery: null }, now)).toBe(false);
    expect(recallable({ ...own, delivery: 'queued' }, now)).toBe(false);
    expect(recallable({ ...own, messageId: null, delivery: 'sending' }, now)).toBe(false);
    expect(recallable({ ...own, recalled: true }, now)).toBe(false);
  });

  it('an invite link gives back its code; a bare code stays as it is', () => {
    expect(inviteCodeOf(' http://localhost:5173/?gateway=ws%3A%2F%2Fx&join=ic-0123456789ab ')).toBe('ic-0123456789ab');
    expect(inviteCodeOf('ic-0123456789ab')).toBe('ic-0123456789ab');
  });
});
