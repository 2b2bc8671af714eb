// A run of rows that does not land (its commit to the log fails: a quota error, a closed database;
// or one of its rows fails to open) is pulled and opened again. Opening an E2EE row marks its
// message id as seen; the run must give those ids back, or the second open drops each message as
// a replay and the cursor moves past it.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import type { GroupRow, InboxRow, MethodName, ParamsOf, ResultOf } from '../../../protocol/methods.ts';
import type { GroupInboundMessage, InboundMessage } from '../../../protocol/tab.ts';
import { Groups } from '../../../worker/delivery/groups.ts';
import type { LoggedEvent, LoggedInput } from '../../../worker/delivery/journal.ts';
import { P2pInbox } from '../../../worker/delivery/p2p.ts';
import { E2eeEngine } from '../../../worker/e2ee/engine.ts';
import { encryptP2P } from '../../../worker/e2ee/envelope.ts';
import type { P256PrivateKey } from '../../../worker/e2ee/keys.ts';
import { generatePrivateKey } from '../../../worker/e2ee/noble.ts';
import { openStore } from '../../../worker/store/index.ts';

const ME = 'bob.aun.local';
const PEER = 'alice.aun.local';
const GROUP = 'team.aun.local';

/** A commit that fails `failures` times (as IndexedDB would on a quota error), then stores. */
function flakyCommit<T>(failures: number, store: (inputs: (LoggedInput | null)[]) => T[]) {
  let left = failures;
  return async (inputs: (LoggedInput | null)[]): Promise<(LoggedEvent | null)[]> => {
    if (left > 0) {
      left--;
      throw new Error('QuotaExceededError: the log refused the write');
    }
    store(inputs);
    return inputs.map((i) => (i ? ({ lsn: 0, name: i.name, data: i.data } as LoggedEvent) : null));
  };
}

/** A P2P inbox with the real E2EE engine, over stored rows: three E2EE messages from PEER. */
async function p2pWithEngine(opts: { commitFailures: number; recallFailures?: number }) {
  const store = await openStore({ name: `failed-commit-${Math.random()}`, idbFactory: new IDBFactory() });
  const ik = await generatePrivateKey();
  const peerIk = await generatePrivateKey();
  const engine = new E2eeEngine({
    aid: ME, deviceId: 'b1', ik, store,
    rpc: async () => ({ ok: true }) as never,
    peerIk: async () => peerIk.publicSpki,
  });
  const rows: InboxRow[] = [];
  for (const [i, text] of ['one', 'two', 'three'].entries()) {
    const env = await encryptP2P({ aid: PEER, deviceId: 'a1', ik: peerIk as P256PrivateKey }, [{ aid: ME, deviceId: 'b1', ikSpki: ik.publicSpki }], { type: 'text', text });
    rows.push({
      seq: i + 1, version: 'v2', message_id: env.aad.message_id as string, from_aid: PEER, to: ME, t_server: Date.now(),
      device_id: 'b1', slot_id: 'default', direction: 'inbound', envelope_json: JSON.stringify(env),
    });
  }
  let cursor = 0;
  const shown: string[] = [];
  const commit = flakyCommit(opts.commitFailures, (inputs) => inputs.map((i) => {
    if (i?.name === 'message') shown.push(((i.data as InboundMessage).payload as { text: string }).text);
    if (i?.name === 'message.recalled') shown.push('(recall)');
  }));
  let recallFailures = opts.recallFailures ?? 0;
  const inbox = new P2pInbox({
    aid: ME,
    deviceId: 'b1',
    rpc: (async <M extends MethodName>(_m: M, p: ParamsOf<M>) => {
      const after = (p as { after_seq: number }).after_seq;
      return { messages: rows.filter((r) => r.seq > after), has_more: false, server_ack_seq: 0 } as unknown as ResultOf<M>;
    }) as never,
    loadCursor: async () => cursor,
    async commit(seq, inputs) {
      const out = await commit(inputs);
      cursor = seq;
      return out;
    },
    decrypt: (row) => engine.decrypt(row),
    async recall(notice) {
      if (recallFailures-- > 0) throw new Error('the store refused the redaction');
      return { name: 'message.recalled', key: `recall:p2p:${notice.from}:${notice.messageIds.join(',')}`, data: notice as never };
    },
    unsee: (key) => engine.unsee(key),
  });
  return { inbox, rows, shown };
}

describe('a run that does not land', () => {
  it('when its commit fails, opens its E2EE messages again on the next pull and delivers each once (the real engine)', async () => {
    const { inbox, rows, shown } = await p2pWithEngine({ commitFailures: 1 });
    await expect(inbox.catchUp()).rejects.toThrow('QuotaExceededError');
    expect(shown).toEqual([]);
    expect(inbox.cursor).toBe(0);
    await inbox.catchUp();
    expect(shown).toEqual(['one', 'two', 'three']);
    expect(inbox.cursor).toBe(3);
    // Still refused as a replay once committed: the same envelope stored again at a later seq.
    rows.push({ ...rows[0]!, seq: 4 });
    await inbox.catchUp();
    expect(shown).toEqual(['one', 'two', 'three']);
    expect(inbox.cursor).toBe(4);
  });

  it('when a later row of the run fails to open (a recall the store refused), delivers the messages before it on the next pull', async () => {
    const { inbox, rows, shown } = await p2pWithEngine({ commitFailures: 0, recallFailures: 1 });
    rows.push({
      seq: 4, version: 'v1', message_id: 'tomb-4', from_aid: PEER, to: ME, t_server: Date.now(), device_id: 'b1', slot_id: 'default', direction: 'inbound',
      legacy_v1: { to: ME, payload: { type: 'message.recalled', message_ids: ['some-earlier-message'] } },
    });
    await expect(inbox.catchUp()).rejects.toThrow('refused the redaction');
    expect(shown).toEqual([]);
    await inbox.catchUp();
    expect(shown).toEqual(['one', 'two', 'three', '(recall)']);
    expect(inbox.cursor).toBe(4);
  });

  it('gives a group run\'s message ids back too', async () => {
    // A stand-in engine with the real one's dedupe by message id.
    const seen = new Set<string>();
    const rows: GroupRow[] = ['a', 'b'].map((text, i) => ({
      seq: i + 1, version: 'v2', message_id: `gm-${i + 1}`, from_aid: PEER, group_id: GROUP, t_server: Date.now(), envelope_json: text,
    }) as GroupRow);
    const cursors = new Map<string, number>();
    const shown: string[] = [];
    const commit = flakyCommit(1, (inputs) => inputs.map((i) => i?.name === 'group.message' && shown.push(((i.data as GroupInboundMessage).payload as { text: string }).text)));
    const groups = new Groups({
      aid: ME,
      rpc: (async <M extends MethodName>(method: M, p: ParamsOf<M>) => {
        const after = (p as { after_seq?: number; after_event_seq?: number });
        if (method === 'group.v2.pull') return { messages: rows.filter((r) => r.seq > (after.after_seq ?? 0)), has_more: false, cursor: { current_seq: 0 } } as unknown as ResultOf<M>;
        if (method === 'group.pull_events') return { events: [], has_more: false, cursor: { current_seq: 0 } } as unknown as ResultOf<M>;
        if (method === 'group.list_my') return { items: [{ group_id: GROUP }] } as unknown as ResultOf<M>;
        return {} as ResultOf<M>;
      }) as never,
      loadCursor: async (ns) => cursors.get(ns) ?? 0,
      async commit(ns, seq, inputs) {
        const out = await commit(inputs);
        cursors.set(ns, seq);
        return out;
      },
      async decrypt(row) {
        const key = `${GROUP}:${row.from_aid}:${row.message_id}`;
        if (seen.has(key)) return null; // a replay: dropped quietly, as unreadable() does
        seen.add(key);
        const data = { aid: ME, groupId: GROUP, seq: row.seq, messageId: row.message_id, from: row.from_aid, timestamp: row.t_server, payload: { type: 'text', text: row.envelope_json! }, encrypted: true, direction: 'inbound' } as GroupInboundMessage;
        return { name: 'group.message', key: `group:${GROUP}:${row.seq}`, data, seen: key };
      },
      recall: async () => {
        throw new Error('no recalls here');
      },
      unsee: (key) => seen.delete(key),
      membershipChanged: () => {},
    });
    await expect(groups.follow(GROUP)).rejects.toThrow('QuotaExceededError');
    expect(shown).toEqual([]);
    expect(cursors.get(`group:${GROUP}`) ?? 0).toBe(0);
    await groups.follow(GROUP);
    expect(shown).toEqual(['a', 'b']);
    expect(cursors.get(`group:${GROUP}`)).toBe(2);
  });
});
