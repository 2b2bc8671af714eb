// Failures on the way from a stored row to the log, and what each must not lose:
//  - a run of rows that does not land (its commit to the log fails: a quota error, a closed
//    database; or one of its rows fails to open) is pulled and opened again. Opening an E2EE row
//    marks its message id as seen; the run must give those ids back, or the second open drops each
//    message as a replay and the cursor moves past it;
//  - a failure that may pass while a row is opened (the keystore refused a read, the sender's
//    certificate could not be fetched) is retried, not logged as `undecryptable` for good, until
//    OPEN_GIVE_UP_MS has passed; a definitive answer (an AID the gateway does not know) is not.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AunError, ErrorCode, NotFoundError } from '../../../protocol/errors.ts';
import type { GroupRow, InboxRow, MethodName, ParamsOf, ResultOf } from '../../../protocol/methods.ts';
import type { GroupInboundMessage, InboundMessage } from '../../../protocol/tab.ts';
import { Groups } from '../../../worker/delivery/groups.ts';
import type { LoggedEvent, LoggedInput } from '../../../worker/delivery/journal.ts';
import { P2pInbox } from '../../../worker/delivery/p2p.ts';
import { OPEN_GIVE_UP_MS, RETRY_FIRST_MS, SeqInbox } from '../../../worker/delivery/seq-inbox.ts';
import { E2eeEngine } from '../../../worker/e2ee/engine.ts';
import { encryptP2P } from '../../../worker/e2ee/envelope.ts';
import type { P256PrivateKey } from '../../../worker/e2ee/keys.ts';
import { generatePrivateKey } from '../../../worker/e2ee/noble.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';

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
interface Failures {
  commitFailures?: number;
  recallFailures?: number;
  /** The sender's certificate: fails this many times with a failed fetch (a network blip)… */
  peerIkFailures?: number;
  /** …or with this error every time. */
  peerIkError?: Error;
  /** Reads of the keystore's kv that fail (after the prekey was made: a worker restarted). */
  kvGetFailures?: number;
}

async function p2pWithEngine(opts: Failures) {
  const real = await openStore({ name: `failures-${Math.random()}`, idbFactory: new IDBFactory() });
  const ik = await generatePrivateKey();
  const peerIk = await generatePrivateKey();
  const uploads: Record<string, unknown>[] = [];
  const rpc = async (method: string, params: unknown) => {
    if (method === 'message.v2.put_peer_pk') uploads.push(params as Record<string, unknown>);
    return { ok: true } as never;
  };
  // The previous worker made and published this device's prekey, so the rows use 3DH.
  await new E2eeEngine({ aid: ME, deviceId: 'b1', ik, store: real, rpc, peerIk: async () => peerIk.publicSpki }).ensurePrekey();
  let kvGetFailures = opts.kvGetFailures ?? 0;
  const store = { ...real, kv: { ...real.kv, get: <T>(aid: string, key: string) => (kvGetFailures-- > 0 ? Promise.reject(new Error('UnknownError: the keystore refused the read')) : real.kv.get<T>(aid, key)) } } as Store;
  let peerIkFailures = opts.peerIkFailures ?? 0;
  const engine = new E2eeEngine({
    aid: ME, deviceId: 'b1', ik, store, rpc,
    async peerIk() {
      if (opts.peerIkError) throw opts.peerIkError;
      if (peerIkFailures-- > 0) throw new TypeError('Failed to fetch');
      return peerIk.publicSpki;
    },
  });
  const spk = uploads.at(-1)!;
  const me = { aid: ME, deviceId: 'b1', ikSpki: ik.publicSpki, keySource: 'peer_device_prekey' as const, spkId: String(spk.spk_id), spkSpki: Uint8Array.from(Buffer.from(String(spk.spk_pk), 'base64')) };
  const rows: InboxRow[] = [];
  for (const [i, text] of ['one', 'two', 'three'].entries()) {
    const env = await encryptP2P({ aid: PEER, deviceId: 'a1', ik: peerIk as P256PrivateKey }, [me], { type: 'text', text });
    rows.push({
      seq: i + 1, version: 'v2', message_id: env.aad.message_id as string, from_aid: PEER, to: ME, t_server: Date.now(),
      device_id: 'b1', slot_id: 'default', direction: 'inbound', envelope_json: JSON.stringify(env),
    });
  }
  let cursor = 0;
  const shown: string[] = [];
  const commit = flakyCommit(opts.commitFailures ?? 0, (inputs) => inputs.map((i) => {
    if (i?.name === 'message') shown.push(((i.data as InboundMessage).payload as { text: string }).text);
    if (i?.name === 'message.recalled') shown.push('(recall)');
    if (i?.name === 'undecryptable') shown.push(`(undecryptable: ${(i.data as { reason: string }).reason})`);
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a row that fails to open for a while', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a keystore read that fails after a good decrypt (the prekey rotation check) costs the message nothing', async () => {
    const { inbox, shown } = await p2pWithEngine({ kvGetFailures: 1 });
    await inbox.catchUp();
    expect(shown).toEqual(['one', 'two', 'three']);
  });

  it('a certificate fetch that fails once is retried by the inbox itself, with no other push', async () => {
    const { inbox, shown } = await p2pWithEngine({ peerIkFailures: 1 });
    await expect(inbox.catchUp()).rejects.toThrow('Failed to fetch');
    expect(shown).toEqual([]);
    await sleep(RETRY_FIRST_MS + 300);
    expect(shown).toEqual(['one', 'two', 'three']);
    expect(inbox.cursor).toBe(3);
    inbox.stop();
  });

  it('a row that keeps failing becomes `undecryptable` once OPEN_GIVE_UP_MS has passed, and the rows after it go on', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { inbox, rows, shown } = await p2pWithEngine({ peerIkError: new TypeError('Failed to fetch') });
    // A plaintext row after the three from the unreachable sender.
    rows.push({
      seq: 4, version: 'v1', message_id: 'plain-4', from_aid: 'carol.aun.local', to: ME, t_server: Date.now(), device_id: 'b1', slot_id: 'default', direction: 'inbound',
      legacy_v1: { to: ME, payload: { type: 'text', text: 'four' } },
    });
    for (let i = 0; i < 3; i++) {
      await expect(inbox.catchUp()).rejects.toThrow('Failed to fetch');
      vi.advanceTimersByTime(OPEN_GIVE_UP_MS / 3 - 1);
    }
    expect(shown).toEqual([]);
    // Every row from that sender fails the same way; each gets its own time.
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(OPEN_GIVE_UP_MS);
      await inbox.catchUp().catch(() => {});
    }
    expect(shown).toEqual(['(undecryptable: error)', '(undecryptable: error)', '(undecryptable: error)', 'four']);
    expect(inbox.cursor).toBe(4);
    inbox.stop();
  });

  it('a definitive answer (the gateway does not know the sender) is logged at once, as before', async () => {
    const { inbox, shown } = await p2pWithEngine({ peerIkError: new NotFoundError(`${PEER} is not registered at this gateway`) });
    await inbox.catchUp();
    expect(shown).toEqual(['(undecryptable: error)', '(undecryptable: error)', '(undecryptable: error)']);
  });
});

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

  it('when a row fails to open (a recall the store refused), the rows before it land at once and the row on the next pull', async () => {
    const { inbox, rows, shown } = await p2pWithEngine({ commitFailures: 0, recallFailures: 1 });
    rows.push({
      seq: 4, version: 'v1', message_id: 'tomb-4', from_aid: PEER, to: ME, t_server: Date.now(), device_id: 'b1', slot_id: 'default', direction: 'inbound',
      legacy_v1: { to: ME, payload: { type: 'message.recalled', message_ids: ['some-earlier-message'] } },
    });
    await expect(inbox.catchUp()).rejects.toThrow('refused the redaction');
    expect(shown).toEqual(['one', 'two', 'three']);
    expect(inbox.cursor).toBe(3);
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

describe('a pass that fails', () => {
  const inbox = (opts: { commitFailures?: number; loadFailures?: number }) => {
    const rows = [{ seq: 1, text: 'one' }];
    let commitFailures = opts.commitFailures ?? 0;
    let loadFailures = opts.loadFailures ?? 0;
    const shown: string[] = [];
    let cursor = 0;
    const box = new SeqInbox<{ seq: number; text: string }, string>({
      name: 'test',
      pull: async (after) => ({ rows: rows.filter((r) => r.seq > after), hasMore: false, floor: 0 }),
      ack: async () => {},
      async loadCursor() {
        if (loadFailures-- > 0) throw new Error('cursors.get failed');
        return cursor;
      },
      open: async (r) => r.text,
      async commit(seq, items) {
        if (commitFailures-- > 0) throw new Error('QuotaExceededError');
        cursor = seq;
        return items;
      },
      delivered: (t) => void shown.push(t),
    });
    return { box, shown };
  };

  it('is tried again by the inbox itself when no other push comes (the sender went quiet)', async () => {
    const t = inbox({ commitFailures: 2 });
    await t.box.hint(1); // the one push for this message; its pass fails
    expect(t.shown).toEqual([]);
    await sleep(RETRY_FIRST_MS + 200); // the first retry fails too…
    expect(t.shown).toEqual([]);
    await sleep(2 * RETRY_FIRST_MS + 200); // …the second, twice as late, lands
    expect(t.shown).toEqual(['one']);
    t.box.stop();
  });

  it('that could not read the cursor reads it again on the next pass', async () => {
    const t = inbox({ loadFailures: 1 });
    await expect(t.box.catchUp()).rejects.toThrow('cursors.get failed');
    await t.box.catchUp();
    expect(t.shown).toEqual(['one']);
    t.box.stop();
  });

  it('a stopped inbox is not tried again', async () => {
    const t = inbox({ commitFailures: 1 });
    await t.box.hint(1);
    t.box.stop();
    await sleep(RETRY_FIRST_MS + 200);
    expect(t.shown).toEqual([]);
  });
});

describe('group steps run in the background', () => {
  const unhandled: unknown[] = [];
  const on = (e: unknown) => void unhandled.push(e);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', on);
  });
  afterEach(() => {
    process.off('unhandledRejection', on);
  });
  const answer = <M extends MethodName>(r: unknown) => r as ResultOf<M>;
  const base = { loadCursor: async () => 0, decrypt: async () => null, recall: async () => { throw new Error('no recalls here'); }, unsee: () => {}, membershipChanged: () => {} };

  it('a removal whose log commit fails is logged, not an unhandled rejection', async () => {
    let removed = false;
    const log: string[] = [];
    const groups = new Groups({
      ...base,
      aid: ME,
      rpc: (async <M extends MethodName>(m: M) => {
        if (removed) throw new AunError('not a member', ErrorCode.GroupNotMember);
        return answer<M>(m === 'group.v2.pull' ? { messages: [], has_more: false, cursor: { current_seq: 0 } } : { events: [], has_more: false, cursor: { current_seq: 0 } });
      }) as never,
      async commit(_ns, _seq, inputs) {
        if (removed) throw new Error('QuotaExceededError');
        return inputs.map(() => null);
      },
      log: (l) => log.push(l),
    });
    await groups.follow(GROUP);
    removed = true;
    groups.onEvent('group.changed', { group_id: GROUP, event_seq: 5, action: 'member_removed', member_aid: ME });
    await sleep(50);
    expect(unhandled).toEqual([]);
    expect(log.some((l) => l.includes('a removal that could not be logged') && l.includes('QuotaExceededError'))).toBe(true);
    groups.stop();
  });

  it('the pull after this AID joined a group, when it fails, is logged, not an unhandled rejection', async () => {
    let armed = false;
    const log: string[] = [];
    const groups = new Groups({
      ...base,
      aid: ME,
      rpc: (async <M extends MethodName>(m: M, p: ParamsOf<M>) => {
        if (m === 'group.v2.pull') {
          if (armed) throw new Error('connection lost');
          return answer<M>({ messages: [], has_more: false, cursor: { current_seq: 0 } });
        }
        const after = (p as { after_event_seq: number }).after_event_seq;
        const joined = armed && after < 1 ? [{ event_seq: 1, group_id: GROUP, action: 'joined', joined_aid: ME, actor_aid: PEER, created_at: 1 }] : [];
        return answer<M>({ events: joined, has_more: false, cursor: { current_seq: 0 } });
      }) as never,
      commit: async (_ns, _seq, inputs) => inputs.map((x) => (x ? ({ lsn: 1, name: x.name, data: x.data } as LoggedEvent) : null)),
      log: (l) => log.push(l),
    });
    await groups.follow(GROUP);
    armed = true;
    groups.onEvent('group.changed', { group_id: GROUP, event_seq: 1 });
    await sleep(50);
    expect(unhandled).toEqual([]);
    expect(log.some((l) => l.includes('pull after joining') && l.includes('connection lost'))).toBe(true);
    groups.stop();
  });
});

describe('an ack', () => {
  it('leaves only once the log is on disk, and not at all when that flush fails', async () => {
    const steps: string[] = [];
    let flushFails = true;
    const box = new SeqInbox<{ seq: number }, number>({
      name: 'acks',
      pull: async (after) => ({ rows: [1, 2].filter((s) => s > after).map((seq) => ({ seq })), hasMore: false, floor: 0 }),
      async ack(upTo) {
        steps.push(`ack ${upTo}`);
      },
      async durable() {
        steps.push('flush');
        await sleep(20);
        if (flushFails) {
          flushFails = false;
          throw new Error('UnknownError: the flush failed');
        }
        steps.push('flushed');
      },
      loadCursor: async () => 0,
      open: async (r) => r.seq,
      commit: async (_seq, items) => items,
    });
    await box.catchUp();
    await sleep(300);
    expect(steps).toEqual(['flush']); // no ack without the flush
    await box.skip(3); // the next commit schedules the next ack
    await sleep(300);
    expect(steps).toEqual(['flush', 'flush', 'flushed', 'ack 3']);
    box.stop();
  });
});
