// Reading groups (protocol.md §8.2; groups-and-more §3.2, §7): get_members (paged, with each
// member's last acked seq), get_online_members, list_my (and its alias list) and get_info (flat; a
// non-member of a public group sees the public fields only); get_admins, get_master, get_summary,
// refresh_member_types, and the caller's own device cursors (list_devices, unregister_device).

import { ErrorCode } from '../../protocol/errors.ts';
import type { GroupGetInfoResult } from '../../protocol/methods.ts';
import { RpcError, type HandlerTable } from '../context.ts';
import { int, str } from '../validate.ts';
import { PAGE_LIMIT, type GroupCore, type GroupPart, type MemberRecord, type Role } from './group-core.ts';

const MAX_MEMBERS_PAGE = 200;

function page(params: object, maxSize: number): { page: number; size: number } {
  const p = int(params, 'page', { optional: true, min: 1 }) ?? 1;
  const size = Math.min(int(params, 'size', { optional: true, min: 1 }) ?? PAGE_LIMIT, maxSize);
  return { page: p, size };
}

export const groupInfoHandlers: GroupPart = (core: GroupCore) => {
  const { ctx, db, readGroupId, requireGroup, memberOf, requireMember, members, info, memberView } = core;
  const countMembersByRole = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE group_id = ? AND (? IS NULL OR role = ?)');
  const pageMembers = db.prepare(
    `SELECT m.aid, m.role, m.member_type, m.joined_at, m.join_seq,
       COALESCE((SELECT MAX(c.message_ack_seq) FROM group_cursors c WHERE c.group_id = m.group_id AND c.aid = m.aid), 0) AS acked
     FROM group_members m WHERE m.group_id = ? AND (? IS NULL OR m.role = ?)
     ORDER BY m.joined_at, m.aid LIMIT ? OFFSET ?`,
  );
  const pageGroupsOf = db.prepare('SELECT m.group_id, m.role FROM group_members m WHERE m.aid = ? ORDER BY m.joined_at, m.group_id LIMIT ? OFFSET ?');
  const countGroupsOf = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE aid = ?');
  // The caller's own devices' cursors only: another member's devices are not the caller's to see.
  const myCursors = db.prepare('SELECT device_id, message_ack_seq, event_ack_seq FROM group_cursors WHERE group_id = ? AND aid = ? ORDER BY device_id');
  const dropCursor = db.prepare('DELETE FROM group_cursors WHERE group_id = ? AND aid = ? AND device_id = ?');

  const handlers: HandlerTable = {
    'group.get_members'(params, conn) {
      const groupId = readGroupId(params, conn);
      const role = str(params, 'role', { optional: true, max: 16 }) ?? null;
      const { page: p, size } = page(params, MAX_MEMBERS_PAGE);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      const rows = pageMembers.all(groupId, role, role, size, (p - 1) * size) as (MemberRecord & { acked: number })[];
      return {
        group_id: groupId,
        members: rows.map((m) => ({ ...memberView(m), last_ack_seq: Math.max(m.acked, m.join_seq) })),
        total: (countMembersByRole.get(groupId, role, role) as { n: number }).n,
        count: rows.length,
        page: p,
        size,
      };
    },

    'group.get_online_members'(params, conn) {
      const groupId = readGroupId(params, conn);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      const online = members(groupId).filter((m) => ctx.isOnline(m.aid)).map((m) => ({ ...memberView(m), online: true as const }));
      return { group_id: groupId, members: online, online_count: online.length };
    },

    'group.list_my'(params, conn) {
      const { page: p, size } = page(params, MAX_MEMBERS_PAGE);
      const rows = pageGroupsOf.all(conn.aid, size, (p - 1) * size) as { group_id: string; role: Role }[];
      return {
        items: rows.map((r) => ({ ...info(requireGroup(r.group_id)), role: r.role })),
        total: (countGroupsOf.get(conn.aid) as { n: number }).n,
        page: p,
        size,
        aid: conn.aid,
      };
    },

    'group.get_info'(params, conn) {
      const groupId = readGroupId(params, conn);
      const required = (params as { required?: unknown }).required;
      if (required !== undefined && required !== null && (!Array.isArray(required) || !required.every((x) => typeof x === 'string'))) {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: required must be an array of strings');
      }
      const g = requireGroup(groupId);
      const m = memberOf(groupId, conn.aid);
      const wantsMember = Array.isArray(required) && required.includes('member');
      // A private group shows nothing to non-members; a public one its public fields only.
      if (!m && (g.visibility !== 'public' || wantsMember)) requireMember(g, conn.aid);
      const full = info(g);
      const result: GroupGetInfoResult = {
        found: true, group_id: g.group_id, group_aid: g.group_id, name: g.name, visibility: g.visibility, status: g.status,
        description: g.description, member_count: full.member_count, created_at: g.created_at,
      };
      if (!m) return result;
      Object.assign(result, {
        owner_aid: g.owner_aid, creator_aid: g.creator_aid, join_mode: g.join_mode, message_seq: g.message_seq,
        event_seq: g.event_seq, e2ee_epoch: g.epoch, updated_at: g.updated_at, my_role: m.role,
      });
      if (wantsMember) result.members = members(groupId).map(memberView);
      return result;
    },
  };

  // §7 of groups-and-more: reads the browser SDK makes through `call`, and `group.list`, the facade's
  // name for list_my.
  const listMy = handlers['group.list_my']!;
  handlers['group.list'] = (params, conn, c) => listMy(params, conn, c);

  type Conn = Parameters<typeof readGroupId>[1];

  /** A member's group, or a public one's public reading for anyone (as get_info). */
  function readable(params: object, conn: Conn) {
    const g = requireGroup(readGroupId(params, conn));
    if (g.visibility !== 'public') requireMember(g, conn.aid);
    return g;
  }

  /** The group the call names, and the caller's membership of it (-33006 for a non-member). */
  function asMember(params: object, conn: Conn) {
    const g = requireGroup(readGroupId(params, conn));
    return { g, m: requireMember(g, conn.aid) };
  }

  /** Members by `member_type` (anything but "human" counts as an AI, as the default is). */
  function typeCounts(all: MemberRecord[]) {
    const human = all.filter((m) => m.member_type === 'human').length;
    return { human_count: human, ai_count: all.length - human };
  }

  Object.assign(handlers, {
    'group.get_admins'(params, conn) {
      const { g } = asMember(params, conn);
      return { group_id: g.group_id, admins: members(g.group_id).filter((m) => m.role !== 'member').map(memberView) };
    },

    'group.get_master'(params, conn) {
      const g = readable(params, conn);
      return { group_id: g.group_id, owner_aid: g.owner_aid };
    },

    'group.get_summary'(params, conn) {
      const { g } = asMember(params, conn);
      const all = members(g.group_id);
      return {
        group_id: g.group_id, name: g.name, owner_aid: g.owner_aid, status: g.status, visibility: g.visibility,
        member_count: all.length,
        ...typeCounts(all),
        admin_count: all.filter((m) => m.role !== 'member').length,
        online_count: all.filter((m) => ctx.isOnline(m.aid)).length,
        message_seq: g.message_seq, event_seq: g.event_seq, e2ee_epoch: g.epoch, created_at: g.created_at, updated_at: g.updated_at,
      };
    },

    'group.refresh_member_types'(params, conn) {
      const { g } = asMember(params, conn);
      const all = members(g.group_id);
      return {
        group_id: g.group_id, total: all.length,
        ...typeCounts(all),
        members: all.map((m) => ({ aid: m.aid, role: m.role, member_type: m.member_type })),
      };
    },

    'group.list_devices'(params, conn) {
      const { g, m } = asMember(params, conn);
      const rows = myCursors.all(g.group_id, conn.aid) as { device_id: string; message_ack_seq: number; event_ack_seq: number }[];
      return {
        group_id: g.group_id,
        devices: rows.map((r) => ({
          device_id: r.device_id, device_name: r.device_id, device_type: '', last_pull_at: 0,
          msg_unread: Math.max(0, g.message_seq - Math.max(r.message_ack_seq, m.join_seq)),
          event_unread: Math.max(0, g.event_seq - Math.max(r.event_ack_seq, m.join_event_seq)),
        })),
      };
    },

    'group.unregister_device'(params, conn) {
      // Here `device_id` names the device to drop (any of the caller's), not the calling one.
      const deviceId = str(params, 'device_id', { max: 128 });
      const { g } = asMember({ ...params, device_id: undefined }, conn);
      dropCursor.run(g.group_id, conn.aid, deviceId);
      return { success: true as const, group_id: g.group_id, device_id: deviceId };
    },
  } satisfies HandlerTable);
  return handlers;
};
