// Group recall (spec groups-and-more §2.3, §2.4): the original sender withdraws its messages
// within the window. The row at the original seq becomes a plaintext tombstone (ciphertext and
// wraps deleted), a notice tombstone takes a new seq, and online members get
// `event/group.message_recalled`. No audit row goes into the event stream (the SDK would replay
// it to apps as a `group.changed`).

import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { RecallError } from '../../protocol/methods-extra.ts';
import { RpcError } from '../context.ts';
import { str, MAX_MESSAGE_ID } from '../validate.ts';
import type { GroupCore, GroupPart, MessageRecord } from './group-core.ts';

export const RECALL_WINDOW_MS = 120_000;
export const MAX_RECALL_IDS = 100;
export const GROUP_RECALLED = 'group.message_recalled';
/** The P2P tombstone type (message-recall.ts). */
export const P2P_RECALLED = 'message.recalled';
const TOMBSTONE_TYPES: ReadonlySet<unknown> = new Set([GROUP_RECALLED, P2P_RECALLED]);

/**
 * Refuses a client send typed as a recall tombstone (spec groups-and-more §2.4, §2.6): receivers
 * treat such a row as the server's recall of the messages it names, and only the recall methods
 * may make one. `types`: the send's `type` param and its payload's `type`.
 */
export function rejectTombstoneType(method: string, ...types: unknown[]): void {
  for (const t of types) {
    if (TOMBSTONE_TYPES.has(t)) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${method} cannot send a ${String(t)} message; only message.recall / group.recall make recall tombstones`, { type: t });
    }
  }
}

/** `message_ids`: 1–100 non-blank strings. */
export function readMessageIds(params: object): string[] {
  const ids = (params as { message_ids?: unknown }).message_ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_RECALL_IDS
    || !ids.every((x) => typeof x === 'string' && x.trim() !== '' && x.length <= MAX_MESSAGE_ID)) {
    throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_ids must be 1–${MAX_RECALL_IDS} non-blank message ids`);
  }
  return [...new Set(ids as string[])];
}

export const groupRecallHandlers: GroupPart = (core: GroupCore) => {
  const byId = core.db.prepare('SELECT seq, message_id, sender_aid, version, msg_type, body, t_server FROM group_messages WHERE group_id = ? AND message_id = ?');
  const tombstone = core.db.prepare("UPDATE group_messages SET version = 'v1', msg_type = ?, body = ? WHERE group_id = ? AND seq = ?");
  const dropWraps = core.db.prepare('DELETE FROM group_wraps WHERE group_id = ? AND seq = ?');

  return {
    'group.recall'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const ids = readMessageIds(params);
      const reason = str(params, 'reason', { optional: true, max: 255 }) ?? '';
      const g = core.requireGroup(groupId);
      core.requireMember(g, conn.aid);
      const now = core.ctx.now();
      const errors: RecallError[] = [];
      const targets: MessageRecord[] = [];
      for (const id of ids) {
        const r = byId.get(groupId, id) as MessageRecord | undefined;
        if (g.status !== 'active') errors.push({ message_id: id, error: 'group_inactive' });
        else if (!r) errors.push({ message_id: id, error: 'not_found' });
        else if (r.sender_aid !== conn.aid) errors.push({ message_id: id, error: 'not_sender' });
        else if (r.msg_type === GROUP_RECALLED) errors.push({ message_id: id, error: 'already_recalled' });
        else if (now - r.t_server > RECALL_WINDOW_MS) errors.push({ message_id: id, error: 'expired' });
        else targets.push(r);
      }
      const accepted = targets.map((r) => r.message_id);
      if (targets.length === 0) return { success: false, accepted, recalled: [], errors };
      const fields = {
        message_ids: accepted, target_message_seqs: targets.map((r) => r.seq), sender_aid: conn.aid, recalled_by: conn.aid, recalled_at: now, reason,
      };
      const noticeId = `grm-${randomUUID()}`;
      const notice = core.db.transaction(() => {
        for (const r of targets) {
          const placeholder: JsonObject = { type: GROUP_RECALLED, ...fields, message_ids: [r.message_id], target_message_seqs: [r.seq], tombstone_message_id: r.message_id };
          tombstone.run(GROUP_RECALLED, JSON.stringify(placeholder), groupId, r.seq);
          dropWraps.run(groupId, r.seq);
        }
        return core.storeMessage(groupId, {
          message_id: noticeId, sender_aid: conn.aid, version: 'v1', msg_type: GROUP_RECALLED,
          body: JSON.stringify({ type: GROUP_RECALLED, ...fields, tombstone_message_id: noticeId }), t_server: now,
        }, []);
      })();
      const memberAids = core.members(groupId).map((m) => m.aid);
      core.pushToMembers(memberAids, 'group.message_recalled', {
        module_id: 'group', group_id: groupId, seq: notice.seq, message_id: noticeId, tombstone_message_id: noticeId, ...fields,
        member_aids: memberAids.filter((a) => a !== conn.aid),
      }, conn);
      return { success: errors.length === 0, accepted, recalled: accepted, errors };
    },
  };
};
