// Recalls on this device (spec groups-and-more §2): recognising the gateway's tombstone rows and
// recall pushes, redacting the recalled messages' plaintext in the local log, and the logged
// `message.recalled` / `group.message_recalled` event that names the originals by id and lsn.
//
// The gateway writes a placeholder at the original's seq and a notice at a new seq. Only the
// notice makes an event: a device that got the placeholder never had the plaintext, and the notice
// reaches every device that did. The log key is the sorted recalled ids, so the pushed and the
// pulled copy of a notice, and the caller's own record of its recall, make one event.

import type { GroupMessageRecalledEvent, MessageRecalledEvent } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { GroupRow, InboxRow } from '../../protocol/methods.ts';
import type { GroupMessageRecalled, MessageRecalled, RecalledOriginal } from '../../protocol/tab.ts';
import type { LoggedInput } from './journal.ts';
import { groupMessageKey } from './rows.ts';

export const P2P_TOMBSTONE = 'message.recalled';
export const GROUP_TOMBSTONE = 'group.message_recalled';

export interface RecallStore {
  log: { redact(aid: string, key: string, patch: (data: unknown) => unknown): Promise<number | null> };
}

export interface P2pNotice { from: string; to: string; messageIds: string[]; seq: number | null; at: number }
export interface GroupNotice { groupId: string; from: string; recalledBy: string; messageIds: string[]; seqs: number[]; reason: string; seq: number | null; at: number }

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
}

function ints(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => Number.isSafeInteger(x) && x > 0) : [];
}

/** A row's recall notice (it redacts originals in the log when opened), as opposed to a placeholder or a message. */
export function isNotice<N>(n: N | 'placeholder' | null): n is N {
  return n !== null && n !== 'placeholder';
}

/** A P2P inbox row that is a recall: its notice, 'placeholder' (nothing to show), or null (a message). */
export function p2pRecallNotice(row: InboxRow): P2pNotice | 'placeholder' | null {
  const p = row.legacy_v1?.payload as JsonObject | undefined;
  if (!p || p.type !== P2P_TOMBSTONE) return null;
  const ids = strings(p.message_ids);
  if (ids.length === 0 || ids.includes(row.message_id)) return 'placeholder';
  return {
    from: row.from_aid, to: typeof p.to === 'string' ? p.to : row.to, messageIds: ids, seq: row.seq,
    at: typeof p.timestamp === 'number' ? p.timestamp : row.t_server,
  };
}

/** A group row that is a recall tombstone: its notice, 'placeholder', or null. */
export function groupRecallNotice(row: GroupRow): GroupNotice | 'placeholder' | null {
  const p = (row.payload ?? {}) as JsonObject;
  if (row.type !== GROUP_TOMBSTONE && p.type !== GROUP_TOMBSTONE) return null;
  const ids = strings(p.message_ids);
  if (ids.length === 0 || ids.includes(row.message_id)) return 'placeholder';
  return {
    groupId: row.group_id,
    from: typeof p.sender_aid === 'string' ? p.sender_aid : row.from_aid,
    recalledBy: typeof p.recalled_by === 'string' ? p.recalled_by : row.from_aid,
    messageIds: ids,
    seqs: ints(p.target_message_seqs),
    reason: typeof p.reason === 'string' ? p.reason : '',
    seq: row.seq,
    at: typeof p.recalled_at === 'number' ? p.recalled_at : row.t_server,
  };
}

/** `event/message.recalled` as the inbox row it announces (it carries the notice's seq). */
export function rowFromRecallPush(ev: MessageRecalledEvent): InboxRow {
  return {
    seq: ev.seq, version: 'v1', message_id: ev.message_id, from_aid: ev.from, to: ev.to, t_server: ev.timestamp,
    device_id: ev.device_id, slot_id: '', direction: 'inbound',
    legacy_v1: { to: ev.to, payload: { type: P2P_TOMBSTONE, message_ids: ev.message_ids, from: ev.from, to: ev.to, timestamp: ev.timestamp } },
  };
}

/** `event/group.message_recalled` as the group row it announces. */
export function groupRowFromRecallPush(ev: GroupMessageRecalledEvent): GroupRow {
  return {
    seq: ev.seq, version: 'v1', message_id: ev.message_id, from_aid: ev.recalled_by, group_id: ev.group_id, t_server: ev.recalled_at, type: GROUP_TOMBSTONE,
    payload: {
      type: GROUP_TOMBSTONE, message_ids: ev.message_ids, target_message_seqs: ev.target_message_seqs, sender_aid: ev.sender_aid,
      recalled_by: ev.recalled_by, recalled_at: ev.recalled_at, reason: ev.reason,
    },
  };
}

const sortedKey = (ids: string[]) => [...ids].sort().join(',');

/** A logged message entry without its plaintext. */
function redacted(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const { protectedHeaders: _dropped, ...rest } = data as Record<string, unknown>;
  return { ...rest, payload: {}, recalled: true };
}

export class Recalls {
  constructor(private readonly aid: string, private readonly store: RecallStore) {}

  /** Redacts the originals of a P2P recall and returns the logged event for it. */
  async p2p(n: P2pNotice): Promise<LoggedInput<'message.recalled'>> {
    let to = n.to;
    const originals: RecalledOriginal[] = [];
    for (const id of n.messageIds) {
      const capture = (data: unknown) => {
        const t = (data as { to?: unknown } | null)?.to;
        if (!to && typeof t === 'string') to = t;
        return redacted(data);
      };
      let lsn = await this.store.log.redact(this.aid, `p2p:${n.from}:${id}`, capture);
      if (lsn === null && n.from === this.aid) lsn = await this.store.log.redact(this.aid, `out:${id}`, capture);
      originals.push({ messageId: id, lsn });
    }
    const data: MessageRecalled = { aid: this.aid, from: n.from, to, messageIds: n.messageIds, originals, seq: n.seq, at: n.at };
    return { name: 'message.recalled', key: `recall:p2p:${n.from}:${sortedKey(n.messageIds)}`, data };
  }

  /** Redacts the originals of a group recall (by their seqs) and returns the logged event for it. */
  async group(n: GroupNotice): Promise<LoggedInput<'group.message_recalled'>> {
    const originals: RecalledOriginal[] = [];
    for (const [i, id] of n.messageIds.entries()) {
      const seq = n.seqs[i];
      // Only the sender recalls (gateway README, decision 19), and only the message the notice
      // names sits at that seq: a notice that says otherwise redacts nothing.
      let matched = false;
      const check = (data: unknown) => {
        const d = data as { messageId?: unknown; from?: unknown } | null;
        matched = d?.messageId === id && d.from === n.from && n.from === n.recalledBy;
        return matched ? redacted(data) : data;
      };
      const lsn = seq === undefined ? null : await this.store.log.redact(this.aid, groupMessageKey(n.groupId, seq), check);
      originals.push({ messageId: id, lsn: matched ? lsn : null });
    }
    const data: GroupMessageRecalled = {
      aid: this.aid, groupId: n.groupId, from: n.from, recalledBy: n.recalledBy, messageIds: n.messageIds, seqs: n.seqs,
      originals, reason: n.reason, seq: n.seq, at: n.at,
    };
    return { name: 'group.message_recalled', key: `recall:group:${n.groupId}:${sortedKey(n.messageIds)}`, data };
  }
}
