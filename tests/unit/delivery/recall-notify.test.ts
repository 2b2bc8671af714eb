// Recall on the device (tombstone recognition, log redaction, one event per recall), the signed
// group index the worker builds (checked by the gateway's verifier), and the notify rate limit.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { checkGroupIndex } from '../../../gateway/services/group-index.ts';
import { toBase64 } from '../../../protocol/bytes.ts';
import { RateLimitError, ValidationError } from '../../../protocol/errors.ts';
import type { GroupRow, InboxRow } from '../../../protocol/methods.ts';
import type { InboundMessage, NotifyEvent } from '../../../protocol/tab.ts';
import { Journal, type LoggedEvent } from '../../../worker/delivery/journal.ts';
import { groupRecallNotice, p2pRecallNotice, Recalls, rowFromRecallPush } from '../../../worker/delivery/recall.ts';
import { signGroupIndex } from '../../../worker/account/group-settings.ts';
import { Notifier } from '../../../worker/account/notify.ts';
import { AccountActions, type AccountActionsDeps } from '../../../worker/account/actions.ts';
import { P2pInbox } from '../../../worker/delivery/p2p.ts';
import { openStore } from '../../../worker/store/index.ts';

const AID = 'alice.aun.local';
const BOB = 'bob.aun.local';

const inbound = (id: string, text: string): InboundMessage => ({
  aid: AID, messageId: id, from: BOB, to: AID, seq: 1, timestamp: 1, payload: { type: 'text', text }, encrypted: true, direction: 'inbound', protectedHeaders: { h: 1 },
});

describe('recall on the device', () => {
  it('recognises the placeholder and the notice, redacts the original, and logs one event for push and pull copies', async () => {
    const store = await openStore({ name: `recall-${Math.random()}`, idbFactory: new IDBFactory() });
    const seen: LoggedEvent[] = [];
    const journal = new Journal(AID, store, (es) => seen.push(...es));
    await journal.record({ name: 'message', key: `p2p:${BOB}:m-1`, data: inbound('m-1', 'private words') });
    const recalls = new Recalls(AID, store);

    const placeholder: InboxRow = {
      seq: 1, version: 'v1', message_id: 'm-1', from_aid: BOB, to: AID, t_server: 5, device_id: 'd', slot_id: '', direction: 'inbound',
      legacy_v1: { to: AID, payload: { type: 'message.recalled', message_ids: ['m-1'] } },
    };
    expect(p2pRecallNotice(placeholder)).toBe('placeholder');
    const pushed = rowFromRecallPush({ message_id: 'rc-1', tombstone_message_id: 'rc-1', from: BOB, to: AID, message_ids: ['m-1'], seq: 2, timestamp: 9, device_id: 'd' });
    const notice = p2pRecallNotice(pushed);
    expect(notice).toMatchObject({ from: BOB, to: AID, messageIds: ['m-1'], seq: 2, at: 9 });
    expect(p2pRecallNotice({ ...placeholder, legacy_v1: { to: AID, payload: { type: 'text' } } })).toBeNull();

    const first = await journal.commit({ ns: 'p2p', seq: 2 }, [await recalls.p2p(notice as Exclude<typeof notice, null | 'placeholder'>)]);
    const again = await journal.commit({ ns: 'p2p', seq: 2 }, [await recalls.p2p(notice as Exclude<typeof notice, null | 'placeholder'>)]);
    expect(again).toEqual([null]);
    expect(first[0]).toMatchObject({ lsn: 2, name: 'message.recalled', data: { from: BOB, messageIds: ['m-1'], originals: [{ messageId: 'm-1', lsn: 1 }], seq: 2 } });
    const log = await journal.since(0, 10);
    expect(log.events.map((e) => e.name)).toEqual(['message', 'message.recalled']);
    expect(log.events[0]!.data).toMatchObject({ messageId: 'm-1', payload: {}, recalled: true });
    expect(JSON.stringify(log.events)).not.toContain('private words');
    expect(log.events[0]!.data).not.toHaveProperty('protectedHeaders');
    expect(seen.filter((e) => e.name === 'message.recalled')).toHaveLength(1);
  });

  it('a notice pulled in the same run as its original still redacts it: the rows before the notice are committed first', async () => {
    const store = await openStore({ name: `recall-${Math.random()}`, idbFactory: new IDBFactory() });
    const journal = new Journal(AID, store, () => {});
    const recalls = new Recalls(AID, store);
    const rows: InboxRow[] = [
      { seq: 1, version: 'v1', message_id: 'm-1', from_aid: BOB, to: AID, t_server: 5, device_id: 'd', slot_id: '', direction: 'inbound', legacy_v1: { to: AID, payload: { type: 'text', text: 'private words' } } },
      { seq: 2, version: 'v1', message_id: 'rc-1', from_aid: BOB, to: AID, t_server: 9, device_id: 'd', slot_id: '', direction: 'inbound', legacy_v1: { to: AID, payload: { type: 'message.recalled', message_ids: ['m-1'] } } },
    ];
    const inbox = new P2pInbox({
      aid: AID,
      deviceId: 'd',
      // One page holds both: the original was pulled before its sender recalled it.
      rpc: (async () => ({ messages: rows, has_more: false, server_ack_seq: 0 })) as never,
      loadCursor: async () => 0,
      commit: (seq, inputs) => journal.commit({ ns: 'p2p', seq }, inputs),
      decrypt: async () => {
        throw new Error('no E2EE rows here');
      },
      recall: (notice) => recalls.p2p(notice),
      unsee: () => {},
    });
    await inbox.catchUp();
    const log = await journal.since(0, 10);
    expect(log.events.map((e) => e.name)).toEqual(['message', 'message.recalled']);
    expect(log.events[0]!.data).toMatchObject({ messageId: 'm-1', payload: {}, recalled: true });
    expect(log.events[1]!.data).toMatchObject({ originals: [{ messageId: 'm-1', lsn: 1 }] });
    expect(JSON.stringify(log.events)).not.toContain('private words');
    inbox.stop();
  });

  it('redacts group originals by seq, and the sender\'s own outbound entry', async () => {
    const store = await openStore({ name: `recall-${Math.random()}`, idbFactory: new IDBFactory() });
    const journal = new Journal(AID, store, () => {});
    await journal.record({ name: 'group.message', key: 'group:g.aun.local:4', data: { aid: AID, groupId: 'g.aun.local', seq: 4, messageId: 'gm', from: BOB, timestamp: 1, payload: { text: 'x' }, encrypted: true, direction: 'inbound' } });
    await journal.record({ name: 'message', key: 'out:m-9', data: { ...inbound('m-9', 'mine'), from: AID, to: BOB, direction: 'outbound' } });
    const recalls = new Recalls(AID, store);
    const row: GroupRow = {
      seq: 6, version: 'v1', message_id: 'grm-1', from_aid: BOB, group_id: 'g.aun.local', t_server: 7, type: 'group.message_recalled',
      payload: { type: 'group.message_recalled', message_ids: ['gm'], target_message_seqs: [4], sender_aid: BOB, recalled_by: BOB, recalled_at: 7, reason: 'r' },
    };
    expect(groupRecallNotice({ ...row, message_id: 'gm' })).toBe('placeholder');
    const n = groupRecallNotice(row);
    const g = await recalls.group(n as Exclude<typeof n, null | 'placeholder'>);
    expect(g.data).toMatchObject({ groupId: 'g.aun.local', from: BOB, seqs: [4], originals: [{ messageId: 'gm', lsn: 1 }], reason: 'r', seq: 6 });
    const own = await recalls.p2p({ from: AID, to: '', messageIds: ['m-9'], seq: null, at: 1 });
    expect(own.data).toMatchObject({ to: BOB, originals: [{ messageId: 'm-9', lsn: 2 }] });
    const log = await journal.since(0, 10);
    expect(log.events.map((e) => (e.data as { payload: object }).payload)).toEqual([{}, {}]);
  });

  it('a group notice that names another sender, or a seq holding another message, redacts nothing', async () => {
    const store = await openStore({ name: `recall-${Math.random()}`, idbFactory: new IDBFactory() });
    const journal = new Journal(AID, store, () => {});
    const entry = (seq: number, messageId: string) => ({
      name: 'group.message' as const, key: `group:g.aun.local:${seq}`,
      data: { aid: AID, groupId: 'g.aun.local', seq, messageId, from: BOB, timestamp: 1, payload: { text: `keep ${seq}` }, encrypted: true, direction: 'inbound' as const },
    });
    await journal.record(entry(4, 'gm-4'));
    await journal.record(entry(5, 'gm-5'));
    const recalls = new Recalls(AID, store);
    const base = { groupId: 'g.aun.local', reason: '', seq: 9, at: 1 };
    // Carol "recalls" Bob's message; then a notice naming gm-x at the seq where gm-5 sits.
    const a = await recalls.group({ ...base, from: BOB, recalledBy: 'carol.aun.local', messageIds: ['gm-4'], seqs: [4] });
    const b = await recalls.group({ ...base, from: BOB, recalledBy: BOB, messageIds: ['gm-x'], seqs: [5] });
    expect(a.data.originals).toEqual([{ messageId: 'gm-4', lsn: null }]);
    expect(b.data.originals).toEqual([{ messageId: 'gm-x', lsn: null }]);
    const log = await journal.since(0, 10);
    expect(log.events.map((e) => (e.data as { payload: object }).payload)).toEqual([{ text: 'keep 4' }, { text: 'keep 5' }]);
  });
});

describe('the signed group.index the worker builds', () => {
  it('verifies with the gateway\'s checker, and a changed value does not', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const spki = toBase64(new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey)));
    const etag = async (v: unknown) => `"sha256:${Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(v)))).toString('hex')}"`;
    const entries = [{ etag: await etag('Be kind'), key: 'rules.content', last_modified: 5, source: 'db' }];
    const index = await signGroupIndex({ aid: AID, ecdsa: pair.privateKey }, 'g.aun.local', entries, 5);
    expect(checkGroupIndex(index, 'g.aun.local', { aid: AID, publicKey: spki }, { 'rules.content': 'Be kind' })).toMatchObject({ etag: index.meta.etag, last_modified: 5 });
    expect(() => checkGroupIndex(index, 'g.aun.local', { aid: AID, publicKey: spki }, { 'rules.content': 'Be loud' })).toThrow(/does not match/);
  });

  it('indexes a setting as the gateway reads it: a Date is hashed as its JSON text, not as {}; a BigInt is refused', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const spki = toBase64(new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey)));
    const wire: Record<string, unknown>[] = [];
    const rpc = async (method: string, params: unknown) => {
      if (method === 'group.get_settings') return { settings: [] };
      // What the gateway receives: the params as JSON.
      wire.push(JSON.parse(JSON.stringify(params)) as Record<string, unknown>);
      return { updated_keys: ['rules.content'] };
    };
    const actions = new AccountActions({ aid: AID, ecdsa: pair.privateKey, rpc } as unknown as AccountActionsDeps);
    await actions.setGroupSettings('g.aun.local', { 'rules.content': new Date(0) });
    const settings = wire[0]!.settings as Record<string, unknown>;
    expect(settings['rules.content']).toBe('1970-01-01T00:00:00.000Z');
    expect(checkGroupIndex(settings['group.index'], 'g.aun.local', { aid: AID, publicKey: spki }, { 'rules.content': settings['rules.content'] })).toMatchObject({ last_modified: expect.any(Number) });
    await expect(actions.setGroupSettings('g.aun.local', { 'rules.content': 1n })).rejects.toBeInstanceOf(ValidationError);
    expect(wire).toHaveLength(1);
  });
});

describe('Notifier', () => {
  it('rate-limits sends, routes to an AID or a group, and turns app pushes into notify events', () => {
    let now = 1_000;
    const frames: [string, Record<string, unknown>][] = [];
    const events: NotifyEvent[] = [];
    const n = new Notifier({ aid: AID, write: (m, p) => (frames.push([m, p as Record<string, unknown>]), true), publish: (e) => events.push(e), now: () => now });
    for (let i = 0; i < 10; i++) n.send({ to: BOB }, 'typing', { i });
    expect(() => n.send({ to: BOB }, 'typing', {})).toThrow(RateLimitError);
    now += 1_000;
    n.send({ groupId: 'g.aun.local' }, 'typing', {});
    expect(frames[0]).toEqual(['notification/route', { target: { type: 'aid', aid: BOB }, deliver: { method: 'event/app.typing', params: { i: 0 } }, ttl_ms: 10_000 }]);
    expect(frames.at(-1)).toEqual(['notification/group.route', expect.objectContaining({ group_id: 'g.aun.local', deliver: { method: 'event/app.typing', params: { group_id: 'g.aun.local' } } })]);
    expect(() => n.send({ to: BOB }, 'bad kind!', {})).toThrow(/kind/);
    // What JSON cannot write is refused as bad input (it was the TypeError of JSON.stringify); a
    // Date goes as its JSON text.
    now += 1_000;
    const sent = frames.length;
    expect(() => n.send({ to: BOB }, 'typing', { n: 1n } as never)).toThrow(ValidationError);
    n.send({ to: BOB }, 'typing', { at: new Date(0) } as never);
    expect(frames.slice(sent)).toEqual([['notification/route', expect.objectContaining({ deliver: { method: 'event/app.typing', params: { at: '1970-01-01T00:00:00.000Z' } } })]]);
    expect(n.receive('app.typing', { thread: 't', _notify: { from_aid: BOB, device_id: 'd1', sent_at: 42 } })).toBe(true);
    expect(n.receive('message.received', {})).toBe(false);
    expect(events).toEqual([{ aid: AID, kind: 'typing', from: BOB, fromDevice: 'd1', params: { thread: 't' }, at: 42 }]);
  });
});
