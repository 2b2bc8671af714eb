// The group event stream (protocol.md §8.4): pull_events and ack_events over each device's event
// cursor, which never sits below the member's join event. Each member pulls the events as the
// core's `eventFor` shows them to it (invite codes for the owner, admins and the joiner only).

import type { GroupCursor, GroupEvent } from '../../protocol/methods.ts';
import type { AuthedConnection, HandlerTable } from '../context.ts';
import { int } from '../validate.ts';
import { pageLimit, type GroupCore, type GroupPart, type GroupRecord, type MemberRecord } from './group-core.ts';

export const groupEventHandlers: GroupPart = (core: GroupCore) => {
  const { db, readGroupId, requireGroup, requireMember, eventFor } = core;
  const pullEvents = db.prepare('SELECT body FROM group_events WHERE group_id = ? AND event_seq > ? ORDER BY event_seq LIMIT ?');
  const getCursor = db.prepare('SELECT event_ack_seq FROM group_cursors WHERE group_id = ? AND aid = ? AND device_id = ?');
  const advanceEventCursor = db.prepare(
    `INSERT INTO group_cursors (group_id, aid, device_id, message_ack_seq, event_ack_seq) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET event_ack_seq = MAX(event_ack_seq, excluded.event_ack_seq)`,
  );

  function eventFloor(m: MemberRecord): number {
    return Math.max(0, m.join_event_seq - 1);
  }

  function eventCursor(g: GroupRecord, m: MemberRecord, conn: AuthedConnection): GroupCursor {
    const stored = (getCursor.get(g.group_id, m.aid, conn.deviceId) as { event_ack_seq: number } | undefined)?.event_ack_seq ?? 0;
    const floor = eventFloor(m);
    const current = Math.max(stored, floor);
    return { current_seq: current, join_seq: floor, latest_seq: g.event_seq, unread_count: Math.max(0, g.event_seq - current) };
  }

  const handlers: HandlerTable = {
    'group.pull_events'(params, conn) {
      const groupId = readGroupId(params, conn);
      const after = int(params, 'after_event_seq', { optional: true, min: 0 });
      const limit = pageLimit(params);
      const g = requireGroup(groupId);
      const m = requireMember(g, conn.aid);
      const cursor = eventCursor(g, m, conn);
      const rows = pullEvents.all(groupId, Math.max(after ?? cursor.current_seq, eventFloor(m)), limit + 1) as { body: string }[];
      return {
        group_id: groupId,
        events: rows.slice(0, limit).map((r) => eventFor(JSON.parse(r.body) as GroupEvent, m.aid, m.role)),
        latest_event_seq: g.event_seq,
        has_more: rows.length > limit,
        cursor,
      };
    },

    'group.ack_events'(params, conn) {
      const groupId = readGroupId(params, conn);
      const eventSeq = int(params, 'event_seq', { min: 0 });
      const g = requireGroup(groupId);
      const m = requireMember(g, conn.aid);
      advanceEventCursor.run(groupId, conn.aid, conn.deviceId, Math.min(eventSeq, g.event_seq));
      return { group_id: groupId, cursor: eventCursor(g, m, conn) };
    },
  };
  return handlers;
};
