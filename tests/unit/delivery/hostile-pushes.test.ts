// Issue 13, findings 4-6: a push is a hint. Forged plaintext pushes, far-ahead seqs and real
// envelopes replayed at fake seqs, into the P2P inbox and the group inboxes, against a fake
// gateway whose stored rows are the truth.

import { describe, expect, it } from 'vitest';
import { AunError, ErrorCode } from '../../../protocol/errors.ts';
import type { GroupRow, InboxRow, MethodName, ParamsOf, ResultOf } from '../../../protocol/methods.ts';
import type { InboundMessage } from '../../../protocol/tab.ts';
import { Groups } from '../../../worker/delivery/groups.ts';
import type { LoggedEvent, LoggedInput } from '../../../worker/delivery/journal.ts';
import { P2pInbox } from '../../../worker/delivery/p2p.ts';
import type { Decrypted } from '../../../worker/e2ee/envelope.ts';
import { E2eeError } from '../../../worker/e2ee/errors.ts';

const ME = 'bob.aun.local';
const PEER = 'alice.aun.local';
const DEVICE = 'dev-bob';
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

/** A stand-in for an envelope: who it is from and to, and its text; `openEnvelope` is the fake E2EE engine. */
const envelope = (messageId: string, text: string, to = ME) => JSON.stringify({ messageId, text, to, from: PEER });

/** A fake E2EE engine with the real one's message-id dedupe: a second open of one message id is a duplicate. */
function fakeEngine() {
  const seen = new Set<string>();
  let opened = 0;
  return {
    get opened() {
      return opened;
    },
    open(json: string | undefined, from: string): { messageId: string; text: string } | 'duplicate' | 'bad' {
      opened++;
      let e: { messageId?: unknown; text?: unknown; to?: unknown; from?: unknown };
      try {
        e = JSON.parse(json ?? '') as typeof e;
      } catch {
        return 'bad';
      }
      if (e.to !== ME || e.from !== from || typeof e.messageId !== 'string' || typeof e.text !== 'string') return 'bad';
      if (seen.has(e.messageId)) return 'duplicate';
      seen.add(e.messageId);
      return { messageId: e.messageId, text: e.text };
    },
  };
}

function p2pSetup() {
  const stored = new Map<number, InboxRow>();
  const shown: { seq: number; text: string }[] = [];
  const pulls: number[] = [];
  let cursor = 0;
  /** When set, every pull answers this page as is (a buggy gateway). */
  const fixed: { page: unknown[] | null } = { page: null };
  const engine = fakeEngine();
  const store = (seq: number, messageId: string, text: string, version: 'v1' | 'v2' = 'v2') => {
    stored.set(seq, {
      seq, version, message_id: messageId, from_aid: PEER, to: ME, t_server: Date.now(), device_id: DEVICE, slot_id: 'default', direction: 'inbound',
      ...(version === 'v2' ? { envelope_json: envelope(messageId, text) } : { legacy_v1: { to: ME, payload: { type: 'text', text } } }),
    });
  };
  const rpc = async <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
    if (method === 'message.v2.ack') return { success: true, ack_seq: 0 } as unknown as ResultOf<M>;
    const after = (params as { after_seq: number }).after_seq;
    pulls.push(after);
    await settle(1);
    if (fixed.page) return { messages: fixed.page, has_more: true, server_ack_seq: 0, latest_seq: 0 } as unknown as ResultOf<M>;
    const rows = [...stored.values()].filter((r) => r.seq > after).sort((a, b) => a.seq - b.seq);
    return { messages: rows.slice(0, 50), has_more: rows.length > 50, server_ack_seq: 0, latest_seq: 0 } as unknown as ResultOf<M>;
  };
  const p2p = new P2pInbox({
    aid: ME,
    deviceId: DEVICE,
    rpc,
    loadCursor: async () => cursor,
    async commit(seq, inputs) {
      cursor = seq;
      for (const i of inputs) {
        if (i?.name !== 'message') continue;
        const m = i.data as InboundMessage;
        shown.push({ seq: m.seq, text: (m.payload as { text: string }).text });
      }
      return inputs.map((i) => (i ? ({ lsn: 0, name: i.name, data: i.data } as LoggedEvent) : null));
    },
    async decrypt(row): Promise<Decrypted> {
      const opened = engine.open(row.envelope_json, row.from_aid);
      if (opened === 'duplicate') throw new E2eeError('duplicate', `${row.message_id} was opened before`);
      if (opened === 'bad') throw new E2eeError('malformed', `${row.message_id} is not an envelope for ${ME}`);
      return { payload: { type: 'text', text: opened.text }, aad: {}, row: {} as Decrypted['row'] };
    },
    recall: async () => {
      throw new Error('no recalls in these tests');
    },
    unsee: () => {}, // no commit fails here (tests/unit/delivery/failures.test.ts)
  });
  return { p2p, stored, store, shown, pulls, engine, fixed, cursor: () => cursor };
}

const plaintextPush = (seq: number, text: string, messageId = `forged-${seq}`) => ({
  message_id: messageId, from: PEER, to: ME, seq, timestamp: Date.now(), payload: { type: 'text', text }, device_id: DEVICE, slot_id: 'default',
});
const v2Push = (seq: number, messageId: string, envelopeJson: string) => ({ seq, message_id: messageId, from_aid: PEER, device_id: DEVICE, envelope_json: envelopeJson });

describe('P2P pushes are hints (issue 13)', () => {
  it('finding 4: a forged plaintext push at the next seq is not shown and does not move the cursor; the stored message at that seq is delivered', async () => {
    const t = p2pSetup();
    t.p2p.onEvent('message.received', plaintextPush(1, 'forged text'));
    await settle();
    expect(t.shown).toEqual([]);
    expect(t.cursor()).toBe(0);
    t.store(1, 'm-real', 'real text', 'v1');
    t.p2p.onEvent('message.received', plaintextPush(1, 'real text', 'm-real'));
    await settle();
    expect(t.shown).toEqual([{ seq: 1, text: 'real text' }]);
    expect(t.cursor()).toBe(1);
  });

  it('finding 4: a forged plaintext push that arrives after the real one was stored is not shown either', async () => {
    const t = p2pSetup();
    t.store(1, 'm-real', 'real text', 'v1');
    t.p2p.onEvent('message.received', plaintextPush(1, 'forged text'));
    await settle();
    expect(t.shown.map((s) => s.text)).toEqual(['real text']);
  });

  it('finding 5: a push with a far-ahead seq costs one pull, not a loop, and later messages still arrive', async () => {
    const t = p2pSetup();
    t.p2p.onEvent('message.received', plaintextPush(1e9, 'far ahead'));
    await settle(200);
    expect(t.pulls).toEqual([0]);
    expect(t.cursor()).toBe(0);
    t.store(1, 'm-1', 'one');
    t.p2p.onEvent('peer.v2.message_received', v2Push(1, 'm-1', envelope('m-1', 'one')));
    await settle();
    expect(t.shown.map((s) => s.text)).toEqual(['one']);
    expect(t.pulls).toHaveLength(2);
  });

  it('finding 5: a flood of out-of-order and far-ahead pushes costs at most one pull each and nothing after it stops', async () => {
    const t = p2pSetup();
    for (let i = 0; i < 1000; i++) t.p2p.onEvent('message.received', plaintextPush(i % 2 ? 1e9 + i : 50 - (i % 50), `x${i}`));
    await settle(100);
    const after = t.pulls.length;
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(1000);
    await settle(200);
    expect(t.pulls.length).toBe(after);
    expect(t.shown).toEqual([]);
  });

  it('finding 6: a real envelope replayed at a fake seq does not take its message id; the real copy is delivered once at its true seq', async () => {
    const t = p2pSetup();
    const real = envelope('m-2', 'second');
    // The replay claims seq 1 (where the gateway will store m-1) and a far seq.
    t.p2p.onEvent('peer.v2.message_received', v2Push(1, 'm-2', real));
    t.p2p.onEvent('peer.v2.message_received', v2Push(7, 'm-2', real));
    await settle();
    expect(t.engine.opened).toBe(0);
    t.store(1, 'm-1', 'first');
    t.store(2, 'm-2', 'second');
    t.p2p.onEvent('peer.v2.message_received', v2Push(2, 'm-2', real));
    await settle();
    expect(t.shown).toEqual([{ seq: 1, text: 'first' }, { seq: 2, text: 'second' }]);
    expect(t.cursor()).toBe(2);
  });

  it('pushes for another device, and malformed pushes, cost nothing', async () => {
    const t = p2pSetup();
    t.p2p.onEvent('message.received', { ...plaintextPush(1, 'x'), device_id: 'other-device' });
    t.p2p.onEvent('message.received', null);
    t.p2p.onEvent('message.received', 'garbage');
    await settle();
    expect(t.pulls).toEqual([]);
  });

  it('a page with bad rows (no seq, string seqs, duplicates, rows at or below the cursor) takes only the good ones', async () => {
    const t = p2pSetup();
    t.store(1, 'm-1', 'one');
    t.store(2, 'm-2', 'two');
    const good = [...t.stored.values()];
    // The page also says has_more every time: the pull must end once a page moves nothing.
    t.fixed.page = [{ seq: '3' }, { seq: Number.NaN }, null, 7, { seq: 1e300 }, { ...good[0]!, seq: 0 }, good[1], good[0], good[1]];
    t.p2p.onEvent('peer.v2.message_received', v2Push(1, 'm-1', ''));
    await settle(200);
    expect(t.shown).toEqual([{ seq: 1, text: 'one' }, { seq: 2, text: 'two' }]);
    expect(t.cursor()).toBe(2);
    expect(t.pulls).toEqual([0, 2]);
  });
});

const GROUP = 'g-1.aun.local';

function groupSetup() {
  const rows = new Map<number, GroupRow>();
  const events: { event_seq: number; action: string; group_id: string; actor_aid: string; member_aid: string; created_at: number }[] = [];
  let member = true;
  const committed: { ns: string; seq: number; names: string[] }[] = [];
  const shown: string[] = [];
  const cursors = new Map<string, number>();
  const pulls = { messages: 0 };
  const recalled: string[][] = [];
  const rpc = async <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
    await settle(1);
    const p = params as { after_seq?: number; after_event_seq?: number };
    if (method === 'group.list_my') return { items: [{ group_id: GROUP }] } as unknown as ResultOf<M>;
    if (!member && (method === 'group.v2.pull' || method === 'group.pull_events')) throw new AunError('not a member', ErrorCode.GroupNotMember);
    if (method === 'group.v2.pull') {
      pulls.messages++;
      const list = [...rows.values()].filter((r) => r.seq > (p.after_seq ?? 0)).sort((a, b) => a.seq - b.seq);
      return { messages: list, has_more: false, cursor: { current_seq: 0 } } as unknown as ResultOf<M>;
    }
    if (method === 'group.pull_events') {
      return { events: events.filter((e) => e.event_seq > (p.after_event_seq ?? 0)), has_more: false, cursor: { current_seq: 0 } } as unknown as ResultOf<M>;
    }
    return {} as ResultOf<M>;
  };
  const groups = new Groups({
    aid: ME,
    rpc,
    loadCursor: async (ns) => cursors.get(ns) ?? 0,
    async commit(ns, seq, inputs) {
      cursors.set(ns, seq);
      committed.push({ ns, seq, names: inputs.filter((i) => i !== null).map((i) => i!.name) });
      for (const i of inputs) if (i?.name === 'group.message') shown.push((i.data as unknown as { payload: { text: string } }).payload.text);
      return inputs.map((i) => (i ? ({ lsn: 0, name: i.name, data: i.data } as LoggedEvent) : null));
    },
    decrypt: async () => null,
    unsee: () => {}, // no commit fails here (tests/unit/delivery/failures.test.ts)
    membershipChanged: () => {},
    async recall(n) {
      recalled.push(n.messageIds);
      return { name: 'group.message_recalled', key: `grecall:${n.messageIds.join(',')}`, data: n } as unknown as LoggedInput;
    },
  });
  const storeRow = (seq: number, text: string) =>
    rows.set(seq, { seq, version: 'v1', message_id: `gm-${seq}`, from_aid: PEER, group_id: GROUP, t_server: Date.now(), payload: { type: 'text', text } } as GroupRow);
  const storeRecall = (seq: number, ids: string[]) =>
    rows.set(seq, {
      seq, version: 'v1', message_id: `gr-${seq}`, from_aid: PEER, group_id: GROUP, t_server: Date.now(), type: 'group.message_recalled',
      payload: { type: 'group.message_recalled', message_ids: ids, sender_aid: PEER, recalled_by: PEER, recalled_at: 1, reason: '' },
    } as GroupRow);
  return { groups, storeRow, storeRecall, events, committed, shown, cursors, pulls, recalled, leave: () => (member = false) };
}

const groupPush = (seq: number, text: string) => ({ group_id: GROUP, seq, message_id: `gm-forged-${seq}`, sender_aid: PEER, payload: { type: 'text', text } });

describe('group pushes are hints (issue 13)', () => {
  it('a forged plaintext group message at the next seq is not shown; the stored one is', async () => {
    const t = groupSetup();
    await t.groups.follow(GROUP);
    t.groups.onEvent('group.message_created', groupPush(1, 'forged'));
    await settle();
    expect(t.shown).toEqual([]);
    t.storeRow(1, 'real');
    t.groups.onEvent('group.message_created', groupPush(1, 'real'));
    await settle();
    expect(t.shown).toEqual(['real']);
  });

  it('a forged group recall push redacts nothing; the recall the gateway stored does', async () => {
    const t = groupSetup();
    t.storeRow(1, 'keep me');
    await t.groups.follow(GROUP);
    const forged = {
      module_id: 'group', group_id: GROUP, seq: 2, message_id: 'gr-forged', tombstone_message_id: 'gr-forged', message_ids: ['gm-1'],
      target_message_seqs: [1], sender_aid: PEER, recalled_by: PEER, recalled_at: 1, reason: '', member_aids: [ME, PEER],
    };
    t.groups.onEvent('group.message_recalled', forged);
    await settle();
    expect(t.recalled).toEqual([]);
    expect(t.cursors.get(`group:${GROUP}`)).toBe(1);
    t.storeRecall(2, ['gm-1']);
    t.groups.onEvent('group.message_recalled', forged);
    await settle();
    expect(t.recalled).toEqual([['gm-1']]);
  });

  it('a far-ahead group seq costs one pull and moves nothing', async () => {
    const t = groupSetup();
    await t.groups.follow(GROUP);
    const before = t.pulls.messages;
    t.groups.onEvent('group.v2.message_created', { group_id: GROUP, seq: 1e9 });
    t.groups.onEvent('group.message_created', groupPush(1e9 + 1, 'far'));
    await settle(200);
    expect(t.pulls.messages - before).toBeLessThanOrEqual(2);
    expect(t.cursors.get(`group:${GROUP}`) ?? 0).toBe(0);
  });

  it('a forged removal of this AID is not believed while the gateway still serves the group', async () => {
    const t = groupSetup();
    await t.groups.follow(GROUP);
    t.groups.onEvent('group.changed', { group_id: GROUP, event_seq: 1, action: 'member_removed', member_aid: ME, actor_aid: PEER, created_at: 1 });
    await settle();
    expect(t.groups.has(GROUP)).toBe(true);
    expect(t.committed.filter((c) => c.names.includes('group.changed'))).toEqual([]);
  });

  it('a real removal, which the removed member can no longer pull, is confirmed by the gateway refusing the pull', async () => {
    const t = groupSetup();
    await t.groups.follow(GROUP);
    t.leave();
    t.groups.onEvent('group.changed', { group_id: GROUP, event_seq: 1, action: 'member_removed', member_aid: ME, actor_aid: PEER, created_at: 1 });
    await settle();
    expect(t.committed).toContainEqual({ ns: `group_event:${GROUP}`, seq: 1, names: ['group.changed'] });
    expect(t.groups.has(GROUP)).toBe(false);
  });

  it('a push for a group this AID is not in is followed once and dropped when the gateway refuses it', async () => {
    const t = groupSetup();
    t.leave();
    t.groups.onEvent('group.message_created', { ...groupPush(1, 'x'), group_id: 'g-stranger.aun.local' });
    await settle();
    expect(t.groups.has('g-stranger.aun.local')).toBe(false);
    t.groups.onEvent('group.message_created', { ...groupPush(1, 'x'), group_id: 'x'.repeat(10_000) });
    expect(t.groups.has('x'.repeat(10_000))).toBe(false);
  });
});
