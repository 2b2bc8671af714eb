// The demo's conversation model: own messages merge whichever of the logged copy and the send's
// answer comes first, delivery states follow the answers and events, unread counts follow the
// read marks, and new peers become contacts.
import { describe, expect, it } from 'vitest';
import { Chats, type ChatMessage, type Conversation } from '../../../demo/app/chats.ts';
import type { GroupChange, GroupInboundMessage, InboundMessage } from '../../../client-stub/index.ts';
import type { ReadMarks } from '../../../demo/app/storage.ts';

const ME = 'alice.aun.local';
const BOB = 'bob.aun.local';

function setup(marks: ReadMarks = {}) {
  const ops: string[] = [];
  const contacts: string[] = [];
  const reads: [string, number][] = [];
  const chats = new Chats(ME, {
    message: (c: Conversation, m: ChatMessage, op) => ops.push(`${op} ${m.key}`),
    list: () => {},
    contactAdded: (aid) => contacts.push(aid),
    read: (c, lsn) => reads.push([c.id, lsn]),
  }, marks);
  return { chats, ops, contacts, reads };
}

function p2p(over: Partial<InboundMessage>): InboundMessage {
  return { aid: ME, messageId: 'm1', from: BOB, to: ME, seq: 1, timestamp: 1000, payload: { type: 'text', text: 'hi' }, encrypted: true, direction: 'inbound', ...over };
}

const outbound = (id: string, text: string) => p2p({ messageId: id, from: ME, to: BOB, direction: 'outbound', payload: { type: 'text', text } });
const visible = (c: Conversation) => c.messages.map((m) => `${m.text}:${m.delivery ?? '-'}`);

describe('demo conversations', () => {
  it('a send whose logged copy arrives before its answer is shown once, as sent', () => {
    const { chats } = setup();
    const c = chats.ensure('p2p', BOB);
    const key = chats.startSend(c, 'hello', true);
    expect(visible(c)).toEqual(['hello:sending']);
    chats.receive(outbound('x1', 'hello'), 5);
    chats.settleSend(c, key, { messageId: 'x1', queued: false });
    expect(visible(c)).toEqual(['hello:sent']);
    expect(c.messages[0]!.key).toBe('own:x1');
  });

  it('a queued send becomes sent when its logged copy arrives, and stays one message', () => {
    const { chats, ops } = setup();
    const c = chats.ensure('p2p', BOB);
    const key = chats.startSend(c, 'later', true);
    chats.settleSend(c, key, { messageId: 'x2', queued: true });
    expect(visible(c)).toEqual(['later:queued']);
    chats.receive(outbound('x2', 'later'), 7);
    expect(visible(c)).toEqual(['later:sent']);
    expect(ops).toEqual(['add pending:1', 'update own:x2', 'update own:x2']);
  });

  it('failures: a rejected send, and a queued one the gateway refused (send.failed before or after the answer)', () => {
    const { chats } = setup();
    const c = chats.ensure('p2p', BOB);
    const a = chats.startSend(c, 'a', true);
    chats.settleSend(c, a, { error: 'NotFoundError: no such AID' });
    const b = chats.startSend(c, 'b', true);
    chats.sendFailed('x3', 'refused');
    chats.settleSend(c, b, { messageId: 'x3', queued: true });
    const d = chats.startSend(c, 'd', true);
    chats.settleSend(c, d, { messageId: 'x4', queued: true });
    chats.sendFailed('x4', 'refused');
    expect(visible(c)).toEqual(['a:failed', 'b:failed', 'd:failed']);
    expect(c.messages[0]!.error).toBe('NotFoundError: no such AID');
  });

  it('another tab\'s send shows as sent; a note to self shows once', () => {
    const { chats } = setup();
    chats.receive(outbound('y1', 'from tab 2'), 1);
    chats.receive(p2p({ messageId: 'n1', from: ME, to: ME, direction: 'outbound', payload: { type: 'text', text: 'note' } }), 2);
    chats.receive(p2p({ messageId: 'n1', from: ME, to: ME, direction: 'inbound', payload: { type: 'text', text: 'note' } }), 3);
    expect(visible(chats.conversations.get(`p2p:${BOB}`)!)).toEqual(['from tab 2:sent']);
    expect(visible(chats.conversations.get(`p2p:${ME}`)!)).toEqual(['note:sent']);
  });

  it('counts unread past the read mark, clears and saves on open, and follows marks from other tabs', () => {
    const { chats, contacts, reads } = setup({ [`p2p:${BOB}`]: 2 });
    for (let lsn = 1; lsn <= 4; lsn++) chats.receive(p2p({ messageId: `i${lsn}`, payload: { type: 'text', text: `t${lsn}` } }), lsn);
    const c = chats.conversations.get(`p2p:${BOB}`)!;
    expect(c.unread).toBe(2);
    expect(contacts).toEqual([BOB]);
    chats.openConversation(c.id);
    expect(c.unread).toBe(0);
    expect(reads).toEqual([[c.id, 4]]);
    chats.receive(p2p({ messageId: 'i5' }), 5);
    expect(c.unread).toBe(0);
    expect(reads.at(-1)).toEqual([c.id, 5]);
    chats.openConversation(null);
    chats.receive(p2p({ messageId: 'i6' }), 6);
    chats.receive(p2p({ messageId: 'i7' }), 7);
    expect(c.unread).toBe(2);
    chats.applyReadMarks({ [c.id]: 6 });
    expect(c.unread).toBe(1);
  });

  it('group messages and membership lines go to the group; being removed marks it left', () => {
    const { chats, contacts } = setup();
    const g: GroupInboundMessage = { aid: ME, groupId: 'g-1', seq: 1, messageId: 'gm', from: BOB, timestamp: 2, payload: { type: 'text', text: 'yo' }, encrypted: true, direction: 'inbound' };
    const change = (action: string, eventSeq: number): GroupChange => ({ aid: ME, groupId: 'g-1', eventSeq, action, member: ME, actor: BOB, at: 3 });
    chats.ensure('group', 'g-1', 'team');
    chats.change(change('member_added', 1), 1);
    chats.receive(g, 2);
    chats.change(change('member_removed', 2), 3);
    const c = chats.conversations.get('group:g-1')!;
    expect(c.messages.map((m) => m.text)).toEqual([`${BOB} added you`, 'yo', `${BOB} removed you`]);
    expect(c.unread).toBe(1);
    expect(c.left).toBe(true);
    expect(contacts).toEqual([]);
  });

  it('a send started while the session is down says queued at once, and the sends in progress turn queued when it drops', () => {
    const { chats } = setup();
    const c = chats.ensure('p2p', BOB);
    chats.startSend(c, 'in flight', true);
    const key = chats.startSend(c, 'offline', true, { delivery: 'queued' });
    expect(visible(c)).toEqual(['in flight:sending', 'offline:queued']);
    chats.queueSending();
    expect(visible(c)).toEqual(['in flight:queued', 'offline:queued']);
    chats.settleSend(c, key, { messageId: 'q1', queued: false });
    expect(visible(c)).toEqual(['in flight:queued', 'offline:sent']);
  });

  it('shows the send time the payload carries, not the arrival time', () => {
    const { chats } = setup();
    chats.receive(p2p({ timestamp: 9000, payload: { type: 'text', text: 'late', sentAt: 1234 } }), 1);
    chats.receive(p2p({ messageId: 'm2', timestamp: 9000, payload: { type: 'text', text: 'other client' } }), 2);
    chats.receive(p2p({ messageId: 'm3', timestamp: 9000, payload: { type: 'text', text: 'bad', sentAt: 'yesterday' } }), 3);
    expect(chats.conversations.get(`p2p:${BOB}`)!.messages.map((m) => m.at)).toEqual([1234, 9000, 9000]);
  });

  it('is end-to-end encrypted throughout only while every message is', () => {
    const { chats } = setup();
    const c = chats.ensure('p2p', BOB);
    expect(chats.encryptedThroughout(c)).toBe(true);
    chats.receive(p2p({}), 1);
    expect(chats.encryptedThroughout(c)).toBe(true);
    chats.receive(p2p({ messageId: 'm2', encrypted: false }), 2);
    expect(chats.encryptedThroughout(c)).toBe(false);
  });

  it('tells same-named groups apart by their id, and never shows a raw group id', () => {
    const { chats } = setup();
    const a = chats.ensure('group', 'g-27e624d390bd.aun.local', 'team');
    expect(chats.label(a)).toBe('team');
    const b = chats.ensure('group', 'g-9f00aa11.aun.local', 'team');
    expect([chats.label(a), chats.label(b)]).toEqual(['team #27e6', 'team #9f00']);
    expect(chats.groupLabel('g-9f00aa11.aun.local')).toBe('team #9f00');
    chats.ensure('group', 'g-5555beef.aun.local');
    expect(chats.groupLabel('g-5555beef.aun.local')).toBe('group #5555');
    expect(chats.groupLabel('g-unknown1.aun.local')).toBe('group #unkn');
  });
});
