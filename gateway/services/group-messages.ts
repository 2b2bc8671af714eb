// Group messages (protocol.md §7.3, §8.4, §13.3): V2 and plaintext messages in one per-group seq
// space (group.v2.send, group.send), the pull of the rows a device may see, the per-device message
// cursor (group.v2.ack, group.ack_messages), and the login-time unread hint.

import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { GroupCursor, GroupRow, GroupSendResult, GroupV2PullResult, GroupV2SendResult } from '../../protocol/methods.ts';
import { RpcError, type AuthedConnection, type HandlerTable } from '../context.ts';
import { int, obj, str, MAX_MESSAGE_ID, MAX_PAYLOAD_BYTES } from '../validate.ts';
import { GROUP_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import {
  ROW,
  checkDeviceKnown,
  checkEnvelopeShape,
  checkFreshness,
  checkRowsAndDigest,
  checkSender,
  mismatch,
} from './envelope-check.ts';
import { rejectTombstoneType } from './recall.ts';
import { pageLimit, type GroupCore, type GroupRecord, type MemberRecord, type MessageRecord } from './group-core.ts';

const ROW_ROLES: ReadonlySet<string> = new Set(['member', 'self_sync', 'audit']);

export interface GroupMessages {
  handlers: HandlerTable;
  /** The login-time unread hint (spec §6.7, §8.4): one per group with rows this device has not acked. */
  onLongConnected(conn: AuthedConnection): void;
}

/** `knownDevices`: the devices of a member the gateway knows (group-keys.ts). */
export function createGroupMessages(core: GroupCore, knownDevices: (groupId: string, aid: string) => Set<string>): GroupMessages {
  const { ctx, db, normalizeGroupId, readGroupId, requireGroup, requireActive, memberOf, requireMember, members, pushToMembers, storeMessage, requireNotBanned } = core;
  const groupsOf = db.prepare('SELECT m.group_id, m.role FROM group_members m WHERE m.aid = ? ORDER BY m.joined_at, m.group_id');
  const messageById = db.prepare('SELECT seq, message_id, sender_aid, version, msg_type, body, t_server FROM group_messages WHERE group_id = ? AND message_id = ?');
  // A device sees plaintext rows and the V2 rows it has a wrap for, per device or per AID ("").
  const VISIBLE = `m.group_id = ? AND m.seq > ? AND (m.version = 'v1' OR EXISTS (
      SELECT 1 FROM group_wraps w WHERE w.group_id = m.group_id AND w.seq = m.seq AND w.aid = ? AND w.device_id IN (?, '')))`;
  const pullMessages = db.prepare(`SELECT m.seq, m.message_id, m.sender_aid, m.version, m.msg_type, m.body, m.t_server FROM group_messages m WHERE ${VISIBLE} ORDER BY m.seq LIMIT ?`);
  const countVisible = db.prepare(`SELECT COUNT(*) AS n FROM group_messages m WHERE ${VISIBLE}`);
  const getCursor = db.prepare('SELECT message_ack_seq FROM group_cursors WHERE group_id = ? AND aid = ? AND device_id = ?');
  const advanceMessageCursor = db.prepare(
    `INSERT INTO group_cursors (group_id, aid, device_id, message_ack_seq, event_ack_seq) VALUES (?, ?, ?, ?, 0)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET message_ack_seq = MAX(message_ack_seq, excluded.message_ack_seq)`,
  );

  // ---- the cursor: never below the member's join point ----

  function messageCursor(g: GroupRecord, m: MemberRecord, conn: AuthedConnection): GroupCursor {
    const stored = (getCursor.get(g.group_id, m.aid, conn.deviceId) as { message_ack_seq: number } | undefined)?.message_ack_seq ?? 0;
    const current = Math.max(stored, m.join_seq);
    const unread = (countVisible.get(g.group_id, current, m.aid, conn.deviceId) as { n: number }).n;
    return { current_seq: current, join_seq: m.join_seq, latest_seq: g.message_seq, unread_count: unread };
  }

  /** Moves a member device's message cursor up to `upTo` (never past the group, never back). */
  function ackMessages(groupId: string, upTo: number, conn: AuthedConnection): GroupCursor {
    const g = requireGroup(groupId);
    const m = requireMember(g, conn.aid);
    advanceMessageCursor.run(groupId, conn.aid, conn.deviceId, Math.min(upTo, g.message_seq));
    return messageCursor(g, m, conn);
  }

  /** A member device's rows after `afterSeq` (or its cursor), the page and the cursor: group.v2.pull and group.pull. */
  function pull(params: object, conn: AuthedConnection, afterSeq: number | undefined): GroupV2PullResult {
    const groupId = readGroupId(params, conn);
    const limit = pageLimit(params);
    const ackUpTo = int(params, 'ack_up_to_seq', { optional: true, min: 0 });
    const g = requireGroup(groupId);
    const m = requireMember(g, conn.aid);
    if (ackUpTo !== undefined) advanceMessageCursor.run(groupId, conn.aid, conn.deviceId, Math.min(ackUpTo, g.message_seq));
    const cursor = messageCursor(g, m, conn);
    const from = Math.max(afterSeq ?? cursor.current_seq, m.join_seq);
    const rows = pullMessages.all(groupId, from, conn.aid, conn.deviceId, limit + 1) as MessageRecord[];
    return {
      group_id: groupId,
      messages: rows.slice(0, limit).map((r) => groupRow(groupId, r)),
      has_more: rows.length > limit,
      cursor,
      retention_floor_message_seq: 0,
    };
  }

  function v2Result(groupId: string, r: MessageRecord, status: GroupV2SendResult['status']): GroupV2SendResult {
    return { group_id: groupId, seq: r.seq, message_id: r.message_id, t_server: r.t_server, status };
  }

  function plainResult(groupId: string, r: MessageRecord, status: GroupSendResult['status']): GroupSendResult {
    return {
      group_id: groupId,
      message: {
        group_id: groupId,
        seq: r.seq,
        message_id: r.message_id,
        sender_aid: r.sender_aid,
        message_type: r.msg_type,
        dispatch_mode: 'broadcast',
        payload: JSON.parse(r.body) as JsonObject,
        created_at: r.t_server,
      },
      dispatch_mode: 'broadcast',
      status,
    };
  }

  /**
   * An earlier message with this id: the sender's own of the same kind → its record (a duplicate);
   * another sender's, or a V2 id reused for plaintext or back → -32602.
   */
  function earlier(groupId: string, messageId: string, sender: string, version: MessageRecord['version']): MessageRecord | null {
    const r = messageById.get(groupId, messageId) as MessageRecord | undefined;
    if (!r) return null;
    if (r.sender_aid !== sender) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_id ${messageId} is already used in ${groupId} by another sender; use a fresh id`);
    }
    if (r.version !== version) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_id ${messageId} is already used in ${groupId} by a ${r.version === 'v2' ? 'V2' : 'plaintext'} message; use a fresh id`);
    }
    return r;
  }

  function groupRow(groupId: string, r: MessageRecord): GroupRow {
    const row: GroupRow = { seq: r.seq, version: r.version, message_id: r.message_id, from_aid: r.sender_aid, group_id: groupId, t_server: r.t_server };
    if (r.version === 'v2') row.envelope_json = r.body;
    else {
      row.type = r.msg_type;
      row.payload = JSON.parse(r.body) as JsonObject;
    }
    return row;
  }

  /**
   * aad.group_id and the top-level epoch are required; the top-level group_id (an unauthenticated
   * copy) and aad.epoch must agree when present. Wrong group → -33050, old epoch → -33052.
   */
  function checkGroupBinding(checked: ReturnType<typeof checkEnvelopeShape>, g: GroupRecord): void {
    const ids: [string, unknown][] = [['aad.group_id', checked.aad.group_id], ['group_id', checked.envelope.group_id]];
    const epochs: [string, unknown][] = [['epoch', checked.envelope.epoch], ['aad.epoch', checked.aad.epoch]];
    for (const [i, [name, v]] of ids.entries()) {
      if (v === undefined && i > 0) continue;
      if (typeof v !== 'string') throw new RpcError(ErrorCode.InvalidParams, `invalid V2 envelope: ${name} must be a string`);
      if (normalizeGroupId(v) !== g.group_id) mismatch(`${name} ${v} is not the group ${g.group_id}`);
    }
    for (const [i, [name, v]] of epochs.entries()) {
      if (v === undefined && i > 0) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RpcError(ErrorCode.InvalidParams, `invalid V2 envelope: ${name} must be an integer`);
      if (v !== g.epoch) {
        throw new RpcError(ErrorCode.V2EpochMismatch, `epoch_mismatch: ${name} ${v} is not the current epoch ${g.epoch} of ${g.group_id}; bootstrap again`, { epoch: g.epoch });
      }
    }
  }

  function rejectNonV2(payload: JsonObject): void {
    if (typeof payload.type === 'string' && payload.type.startsWith('e2ee.')) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: encrypted payload ${payload.type} must go through group.v2.send`);
    }
  }

  const handlers: HandlerTable = {
    'group.v2.send'(params, conn) {
      const groupId = readGroupId(params, conn);
      const envelope = obj(params, 'envelope', {}) as JsonObject;
      const bytes = Buffer.byteLength(JSON.stringify(envelope), 'utf8');
      if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `envelope too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      requireActive(g);
      requireNotBanned(g, conn.aid);
      const checked = checkEnvelopeShape(envelope, GROUP_ENVELOPE_TYPE);
      const dup = earlier(groupId, checked.messageId, conn.aid, 'v2');
      if (dup) return v2Result(groupId, dup, 'duplicate');
      checkSender(checked.aad, conn.aid, conn.deviceId);
      checkGroupBinding(checked, g);
      checkFreshness(checked, ctx.now(), ctx.config);
      checkRowsAndDigest(checked);
      const current = new Set(members(groupId).map((m) => m.aid));
      const wraps: [string, string][] = [];
      // Read once per AID, not per row: up to 1,024 rows may name the same member.
      const devicesOf = new Map<string, Set<string>>();
      checked.rows.forEach((row, i) => {
        const aid = row[ROW.aid];
        const deviceId = row[ROW.deviceId];
        const role = row[ROW.role];
        if (!ROW_ROLES.has(role)) mismatch(`recipients[${i}] role ${role} must be member, self_sync or audit in a group envelope`);
        if (role === 'audit') return; // the gateway announces no audit recipients; nothing to deliver
        if (!current.has(aid)) {
          throw new RpcError(ErrorCode.V2MemberListChanged, `member_list_changed: recipients[${i}] names ${aid}, who is not a member of ${groupId}; bootstrap again`, { aid });
        }
        if (deviceId !== '') {
          let known = devicesOf.get(aid);
          if (!known) {
            known = knownDevices(groupId, aid);
            if (aid === conn.aid) known.add(conn.deviceId);
            devicesOf.set(aid, known);
          }
          checkDeviceKnown(aid, deviceId, known);
        }
        wraps.push([aid, deviceId]);
      });
      const stored = storeMessage(groupId, {
        message_id: checked.messageId, sender_aid: conn.aid, version: 'v2', msg_type: GROUP_ENVELOPE_TYPE,
        body: JSON.stringify(envelope), t_server: ctx.now(),
      }, wraps);
      ctx.count('messages_stored');
      const memberAids = [...current].filter((a) => a !== conn.aid);
      pushToMembers(current, 'group.v2.message_created', {
        group_id: groupId, seq: stored.seq, message_id: stored.message_id, sender_aid: conn.aid, member_aids: memberAids,
      }, conn);
      for (const aid of memberAids) ctx.messageStored({ to: aid, from: conn.aid, messageId: stored.message_id, ts: stored.t_server, groupId });
      return v2Result(groupId, stored, 'sent');
    },

    'group.send'(params, conn) {
      const groupId = readGroupId(params, conn);
      const payload = obj(params, 'payload', {}) as JsonObject;
      const type = str(params, 'type', { optional: true, max: 64 });
      const paramId = str(params, 'message_id', { optional: true, max: MAX_MESSAGE_ID });
      const p = params as unknown as Record<string, unknown>;
      if (p.persist !== undefined || p.delivery_mode !== undefined) {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: group.send takes no persist or delivery_mode (group messages are always stored and fanned out)');
      }
      rejectNonV2(payload);
      rejectTombstoneType('group.send', type, payload.type);
      const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
      if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `payload too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      requireActive(g);
      requireNotBanned(g, conn.aid);
      if (paramId === '') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: message_id must not be empty');
      const messageId = paramId ?? `gm-${randomUUID()}`;
      const dup = earlier(groupId, messageId, conn.aid, 'v1');
      if (dup) return plainResult(groupId, dup, 'duplicate');
      const msgType = type ?? (typeof payload.type === 'string' ? payload.type : 'text');
      const stored = storeMessage(groupId, {
        message_id: messageId, sender_aid: conn.aid, version: 'v1', msg_type: msgType, body: JSON.stringify(payload), t_server: ctx.now(),
      }, []);
      ctx.count('messages_stored');
      const current = members(groupId).map((m) => m.aid);
      pushToMembers(current, 'group.message_created', {
        module_id: 'group', group_id: groupId, seq: stored.seq, message_id: messageId, sender_aid: conn.aid, type: msgType,
        dispatch_mode: 'broadcast', dispatch: { mode: 'broadcast', reason: 'duty_disabled' }, payload, kind: 'group.broadcast',
        member_aids: current.filter((a) => a !== conn.aid),
      }, conn);
      for (const aid of current) ctx.messageStored({ to: aid, from: conn.aid, messageId, ts: stored.t_server, groupId });
      return plainResult(groupId, stored, 'sent');
    },

    // The plain pull the browser SDK sends after a notification-mode push when it has no V2 keys
    // (groups-and-more §1.1): the same rows and cursor as group.v2.pull, `after_message_seq` for
    // `after_seq`, unsigned.
    'group.pull'(params, conn) {
      const after = int(params, 'after_message_seq', { optional: true, min: 0 }) ?? int(params, 'after_seq', { optional: true, min: 0 });
      return pull(params, conn, after);
    },

    // The older name (§1.5), never sent by the browser SDK, in both documented shapes: the SDK
    // manual's `msg_seq` → `{cursor}`, protocol 10's `seq` → `{group_id, aid, ack_seq, latest_message_seq}`.
    'group.ack'(params, conn) {
      const groupId = readGroupId(params, conn);
      const msgSeq = int(params, 'msg_seq', { optional: true, min: 0 });
      const seq = msgSeq ?? int(params, 'seq', { min: 0 });
      const cursor = ackMessages(groupId, seq, conn);
      return { cursor: cursor.current_seq, group_id: groupId, aid: conn.aid, ack_seq: cursor.current_seq, latest_message_seq: cursor.latest_seq };
    },

    'group.v2.pull'(params, conn) {
      return pull(params, conn, int(params, 'after_seq', { optional: true, min: 0 }));
    },

    'group.v2.ack'(params, conn) {
      const groupId = readGroupId(params, conn);
      const cursor = ackMessages(groupId, int(params, 'up_to_seq', { min: 0 }), conn);
      return { group_id: groupId, cursor, ack_seq: cursor.current_seq };
    },

    // The raw ack the browser SDK sends after plaintext pushes (groups-and-more §1.5): same cursor.
    'group.ack_messages'(params, conn) {
      const groupId = readGroupId(params, conn);
      return { cursor: ackMessages(groupId, int(params, 'msg_seq', { min: 0 }), conn).current_seq };
    },
  };

  return {
    handlers,
    onLongConnected(conn) {
      for (const { group_id: groupId } of groupsOf.all(conn.aid) as { group_id: string }[]) {
        const g = requireGroup(groupId);
        const m = memberOf(groupId, conn.aid);
        if (!m) continue;
        const cursor = messageCursor(g, m, conn);
        if (cursor.unread_count === 0) continue;
        ctx.push([conn], 'group.v2.message_created', {
          kind: 'group.online_unread_hint', group_id: groupId, seq: g.message_seq, message_id: '', sender_aid: '',
          member_aids: members(groupId).map((x) => x.aid),
        });
      }
    },
  };
}
