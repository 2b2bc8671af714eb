// Bans (spec groups-and-more §3.12): owners and admins ban an AID from a group, for a time or for
// good. A banned member keeps its membership and reads, but may not send (group-messages.ts);
// a banned AID cannot join by any way in (the core's addMember), nor ask to (group-joins.ts).
// Both documented shapes are taken and answered: the SDK manual's `subject` (alias `aid`),
// `expires_at` / `expires_in_seconds` and `{ban}`, and protocol 10's `duration_seconds` and
// `banned_aid` / `unbanned_aid`.

import { ErrorCode } from '../../protocol/errors.ts';
import type { BanEntry } from '../../protocol/methods-extra.ts';
import { RpcError, type AuthedConnection } from '../context.ts';
import { int, str, MAX_AID } from '../validate.ts';
import type { GroupBan, GroupCore, GroupPart } from './group-core.ts';

const MAX_REASON = 1024;
const MAX_SECONDS = 10 * 365 * 86_400;
const PAGE_MAX = 100;

function view(b: GroupBan): BanEntry {
  return { group_id: b.group_id, subject: b.aid, banned_by: b.banned_by, reason: b.reason, expires_at: b.expires_at, created_at: b.created_at };
}

export const groupBanHandlers: GroupPart = (core: GroupCore) => {
  const db = core.db;
  const put = db.prepare(
    `INSERT INTO group_bans (group_id, aid, banned_by, reason, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (group_id, aid) DO UPDATE SET banned_by = excluded.banned_by, reason = excluded.reason, expires_at = excluded.expires_at, created_at = excluded.created_at`,
  );
  const drop = db.prepare('DELETE FROM group_bans WHERE group_id = ? AND aid = ?');
  const page = db.prepare('SELECT * FROM group_bans WHERE group_id = ? AND (expires_at = 0 OR expires_at > ?) ORDER BY created_at, aid LIMIT ? OFFSET ?');
  const count = db.prepare('SELECT COUNT(*) AS n FROM group_bans WHERE group_id = ? AND (expires_at = 0 OR expires_at > ?)');

  /** `subject`, or its alias `aid`. */
  function subjectOf(params: object): string {
    const p = params as { subject?: unknown; aid?: unknown };
    return str(p.subject !== undefined ? { subject: p.subject } : { subject: p.aid }, 'subject', { max: MAX_AID });
  }

  /** The owner bans anyone but itself; an admin bans plain members and non-members. */
  function mayBan(params: object, conn: AuthedConnection, aid: string, what: string) {
    const g = core.requireGroup(core.readGroupId(params, conn));
    const actor = core.requireManager(g, conn.aid, what);
    if (aid === conn.aid) throw new RpcError(ErrorCode.InvalidParams, `invalid params: an AID cannot ${what} itself`);
    const target = core.memberOf(g.group_id, aid);
    if (target?.role === 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: the owner of ${g.group_id} cannot be banned`);
    if (target?.role === 'admin' && actor.role !== 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: only the owner may ${what} an admin`);
    return g;
  }

  return {
    'group.ban'(params, conn) {
      const aid = subjectOf(params);
      const reason = str(params, 'reason', { optional: true, max: MAX_REASON }) ?? '';
      const at = int(params, 'expires_at', { optional: true, min: 0 });
      const seconds = int(params, 'expires_in_seconds', { optional: true, min: 1, max: MAX_SECONDS })
        ?? int(params, 'duration_seconds', { optional: true, min: 1, max: MAX_SECONDS });
      const g = mayBan(params, conn, aid, 'ban');
      const t = core.ctx.now();
      const expiresAt = seconds !== undefined ? t + seconds * 1000 : at ?? 0;
      if (expiresAt !== 0 && expiresAt <= t) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: expires_at is in the past (0 bans for good)');
      core.emit(g.group_id, 'member_banned', conn.aid, {
        fields: { member_aid: aid, ...(reason ? { reason } : {}), expires_at: expiresAt },
        signature: core.relayedSignature(params, 'group.ban'),
        mutate: () => put.run(g.group_id, aid, conn.aid, reason, expiresAt, t),
      });
      return { group_id: g.group_id, banned_aid: aid, ban: view(core.banOf(g.group_id, aid)!) };
    },

    'group.unban'(params, conn) {
      const aid = subjectOf(params);
      const g = mayBan(params, conn, aid, 'unban');
      if (!core.banOf(g.group_id, aid)) throw new RpcError(ErrorCode.NotFound, `not found: ${aid} is not banned from ${g.group_id}`);
      core.emit(g.group_id, 'member_unbanned', conn.aid, {
        fields: { member_aid: aid }, signature: core.relayedSignature(params, 'group.unban'), mutate: () => drop.run(g.group_id, aid),
      });
      return { group_id: g.group_id, subject: aid, unbanned_aid: aid, status: 'removed' as const };
    },

    'group.get_banlist'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const size = int(params, 'size', { optional: true, min: 1, max: PAGE_MAX }) ?? 20;
      const pageNo = int(params, 'page', { optional: true, min: 1, max: 1_000_000 }) ?? 1;
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'read the ban list');
      const t = core.ctx.now();
      const items = (page.all(groupId, t, size, (pageNo - 1) * size) as GroupBan[]).map(view);
      return { group_id: groupId, items, total: (count.get(groupId, t) as { n: number }).n, page: pageNo, size };
    },
  };
};
