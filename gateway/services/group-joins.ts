// Join requests (spec groups-and-more §3.11, protocol.md §8.2): an AID asks to join a group and,
// by the group's `join.mode`, joins at once (`open`), answers the group's question first and
// waits for an owner's or admin's review (`approval`), or is turned away (`invite_only`, `closed`:
// those join by invite code or `add_member`). Requests are found by the applicant's AID, one per
// (group, AID); a reviewed one may be asked again.
//
// What members see: `join_requested` names the applicant only; its message and answer are read
// by owners and admins through `group.list_join_requests`. `join.auto_approve_patterns` is not
// applied: the patterns are regular expressions an admin writes, and the gateway runs none of them
// (a pattern can take a regex engine exponential time); such groups review by hand.

import { ErrorCode } from '../../protocol/errors.ts';
import type { BatchReviewJoinRequestResult, JoinRequest, ReviewJoinRequestResult } from '../../protocol/methods-extra.ts';
import { RpcError, type AuthedConnection } from '../context.ts';
import { migrate } from '../db.ts';
import { int, str } from '../validate.ts';
import type { GroupCore, GroupPart, GroupRecord } from './group-core.ts';

const MIGRATIONS = [
  `CREATE TABLE group_join_requests (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     aid TEXT NOT NULL,
     message TEXT NOT NULL,
     answer TEXT NOT NULL,
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     reviewed_by TEXT,
     rejection_reason TEXT,
     PRIMARY KEY (group_id, aid)
   );
   CREATE INDEX group_join_requests_by_status ON group_join_requests (group_id, status, created_at)`,
];

/** A pending request lapses after a week unreviewed (it may then be asked again). */
const REQUEST_TTL_MS = 7 * 86_400_000;
/** `join.max_pending` when the group sets none (spec §3.11), and the most it may set. */
const DEFAULT_MAX_PENDING = 100;
const MAX_PENDING_CAP = 10_000;
const MAX_TEXT = 2048;
const MAX_BATCH = 100;
const PAGE_MAX = 100;
const STATUSES: ReadonlySet<string> = new Set(['pending', 'approved', 'rejected']);

export const groupJoinHandlers: GroupPart = (core: GroupCore) => {
  migrate(core.db, 'group-joins', MIGRATIONS);
  const db = core.db;
  const one = db.prepare('SELECT * FROM group_join_requests WHERE group_id = ? AND aid = ?');
  const upsert = db.prepare(
    `INSERT INTO group_join_requests (group_id, aid, message, answer, status, created_at, updated_at, expires_at, reviewed_by, rejection_reason)
     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, NULL, NULL)
     ON CONFLICT (group_id, aid) DO UPDATE SET message = excluded.message, answer = excluded.answer, status = 'pending',
       created_at = excluded.created_at, updated_at = excluded.updated_at, expires_at = excluded.expires_at, reviewed_by = NULL, rejection_reason = NULL`,
  );
  const review = db.prepare('UPDATE group_join_requests SET status = ?, updated_at = ?, reviewed_by = ?, rejection_reason = ? WHERE group_id = ? AND aid = ?');
  const countPending = db.prepare("SELECT COUNT(*) AS n FROM group_join_requests WHERE group_id = ? AND status = 'pending' AND expires_at > ?");
  const page = db.prepare('SELECT * FROM group_join_requests WHERE group_id = ? AND status = ? AND (status != \'pending\' OR expires_at > ?) ORDER BY created_at, aid LIMIT ? OFFSET ?');
  const count = db.prepare('SELECT COUNT(*) AS n FROM group_join_requests WHERE group_id = ? AND status = ? AND (status != \'pending\' OR expires_at > ?)');
  const setting = db.prepare('SELECT value FROM group_settings WHERE group_id = ? AND key = ?');

  /** A stored setting's value (JSON), or undefined. */
  function joinSetting(groupId: string, key: string): unknown {
    const row = setting.get(groupId, key) as { value: string } | undefined;
    if (!row) return undefined;
    try {
      return JSON.parse(row.value) as unknown;
    } catch {
      return undefined;
    }
  }

  function maxPending(groupId: string): number {
    const v = joinSetting(groupId, 'join.max_pending');
    return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? Math.min(v, MAX_PENDING_CAP) : DEFAULT_MAX_PENDING;
  }

  /** A request as stored; a pending one past its expiry reads as none. */
  function current(groupId: string, aid: string): JoinRequest | undefined {
    const r = one.get(groupId, aid) as JoinRequest | undefined;
    if (r && r.status === 'pending' && r.expires_at <= core.ctx.now()) return undefined;
    return r;
  }

  function text(params: object, field: string): string {
    return str(params, field, { optional: true, max: MAX_TEXT }) ?? '';
  }

  /** Approves or rejects `aid`'s pending request; the approval adds the member. */
  function decide(g: GroupRecord, reviewer: AuthedConnection, aid: string, approve: boolean, reason: string, params: object, method: string): ReviewJoinRequestResult {
    const r = current(g.group_id, aid);
    if (!r || r.status !== 'pending') throw new RpcError(ErrorCode.NotFound, `not found: no pending join request of ${aid} in ${g.group_id}`);
    const t = core.ctx.now();
    if (approve) {
      if (core.memberOf(g.group_id, aid)) throw new RpcError(ErrorCode.GroupAlreadyMember, `already a member: ${aid} is already in ${g.group_id}`);
      const after = db.transaction(() => {
        review.run('approved', t, reviewer.aid, null, g.group_id, aid);
        return core.addMember(g.group_id, aid, 'member', reviewer.aid, 'join_approved', { signature: core.relayedSignature(params, method) });
      })();
      return { status: 'approved', request: one.get(g.group_id, aid) as JoinRequest, group: core.info(after) };
    }
    db.transaction(() => {
      review.run('rejected', t, reviewer.aid, reason || null, g.group_id, aid);
      // The applicant is told too: it is not a member, and it asked.
      core.emit(g.group_id, 'join_rejected', reviewer.aid, { fields: { member_aid: aid }, signature: core.relayedSignature(params, method), alsoTell: [aid] });
    })();
    return { status: 'rejected', request: one.get(g.group_id, aid) as JoinRequest };
  }

  function reviewable(params: object, conn: AuthedConnection): GroupRecord {
    const g = core.requireGroup(core.readGroupId(params, conn));
    core.requireActive(g);
    core.requireManager(g, conn.aid, 'review join requests');
    return g;
  }

  return {
    'group.request_join'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const message = text(params, 'message');
      const answer = text(params, 'answer');
      const g = core.requireGroup(groupId);
      core.requireActive(g);
      if (core.memberOf(groupId, conn.aid)) throw new RpcError(ErrorCode.GroupAlreadyMember, `already a member: ${conn.aid} is already in ${groupId}`);
      if (core.banOf(groupId, conn.aid)) throw new RpcError(ErrorCode.GroupJoinRejected, `join rejected: ${conn.aid} is banned from ${groupId}`);
      if (g.join_mode === 'open') {
        const after = core.addMember(groupId, conn.aid, 'member', conn.aid, 'joined', { signature: core.relayedSignature(params, 'group.request_join') });
        return { status: 'joined', group: core.info(after), member: core.memberView(core.memberOf(groupId, conn.aid)!) };
      }
      if (g.join_mode !== 'approval') {
        throw new RpcError(ErrorCode.GroupJoinRejected, `join rejected: ${groupId} takes members by invitation only (join mode ${g.join_mode})`);
      }
      const question = joinSetting(groupId, 'join.question');
      if (typeof question === 'string' && question.trim() !== '' && answer === '') return { status: 'question_required', question };
      const before = current(groupId, conn.aid);
      // Asked again while it waits: the same request, as it stands.
      if (before?.status === 'pending') return { status: 'pending', request: before };
      const t = core.ctx.now();
      if ((countPending.get(groupId, t) as { n: number }).n >= maxPending(groupId)) {
        throw new RpcError(ErrorCode.RateLimited, `rate limited: ${groupId} has as many pending join requests as it takes; try again later`);
      }
      db.transaction(() => {
        upsert.run(groupId, conn.aid, message, answer, t, t, t + REQUEST_TTL_MS);
        core.emit(groupId, 'join_requested', conn.aid, { fields: { member_aid: conn.aid }, signature: core.relayedSignature(params, 'group.request_join') });
      })();
      return { status: 'pending', request: one.get(groupId, conn.aid) as JoinRequest };
    },

    'group.list_join_requests'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const status = str(params, 'status', { optional: true, max: 16 }) ?? 'pending';
      if (!STATUSES.has(status)) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: status must be pending, approved or rejected');
      const size = int(params, 'size', { optional: true, min: 1, max: PAGE_MAX }) ?? 20;
      const pageNo = int(params, 'page', { optional: true, min: 1, max: 1_000_000 }) ?? 1;
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'list join requests');
      const t = core.ctx.now();
      const items = page.all(groupId, status, t, size, (pageNo - 1) * size) as JoinRequest[];
      return { group_id: groupId, items, total: (count.get(groupId, status, t) as { n: number }).n, page: pageNo, size };
    },

    'group.review_join_request'(params, conn) {
      const aid = str(params, 'aid', { max: 255 });
      const approve = (params as { approve?: unknown }).approve;
      if (approve !== undefined && typeof approve !== 'boolean') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: approve must be a boolean');
      const reason = text(params, 'reason');
      const g = reviewable(params, conn);
      return decide(g, conn, aid, approve ?? true, reason, params, 'group.review_join_request');
    },

    'group.batch_review_join_request'(params, conn) {
      const p = params as { requests?: unknown; aids?: unknown; approve?: unknown; reason?: unknown };
      const reason = text(params, 'reason');
      let decisions: { aid: string; approve: boolean; reason: string }[];
      if (Array.isArray(p.requests)) {
        decisions = p.requests.map((r: unknown, i) => {
          const o = (typeof r === 'object' && r !== null ? r : {}) as { aid?: unknown; approve?: unknown; reason?: unknown };
          if (typeof o.aid !== 'string' || o.aid === '' || o.aid.length > 255) throw new RpcError(ErrorCode.InvalidParams, `invalid params: requests[${i}].aid must be an AID`);
          if (o.approve !== undefined && typeof o.approve !== 'boolean') throw new RpcError(ErrorCode.InvalidParams, `invalid params: requests[${i}].approve must be a boolean`);
          if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > MAX_TEXT)) throw new RpcError(ErrorCode.InvalidParams, `invalid params: requests[${i}].reason must be a string`);
          return { aid: o.aid, approve: o.approve ?? true, reason: (o.reason as string | undefined) ?? reason };
        });
      } else if (Array.isArray(p.aids)) {
        if (p.approve !== undefined && typeof p.approve !== 'boolean') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: approve must be a boolean');
        decisions = p.aids.map((aid: unknown, i) => {
          if (typeof aid !== 'string' || aid === '' || aid.length > 255) throw new RpcError(ErrorCode.InvalidParams, `invalid params: aids[${i}] must be an AID`);
          return { aid, approve: (p.approve as boolean | undefined) ?? true, reason };
        });
      } else {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: give requests: [{aid, approve, reason?}] or aids: [...] with approve');
      }
      if (decisions.length === 0 || decisions.length > MAX_BATCH) throw new RpcError(ErrorCode.InvalidParams, `invalid params: 1–${MAX_BATCH} requests at a time`);
      const g = reviewable(params, conn);
      const results: BatchReviewJoinRequestResult['results'] = decisions.map((d) => {
        try {
          const r = decide(core.requireGroup(g.group_id), conn, d.aid, d.approve, d.reason, params, 'group.batch_review_join_request');
          return { aid: d.aid, ok: true, status: r.status, request: r.request };
        } catch (err) {
          if (!(err instanceof RpcError)) throw err;
          return { aid: d.aid, ok: false, error: err.message };
        }
      });
      const ok = results.filter((r) => r.ok).length;
      return { group_id: g.group_id, results, success_count: ok, fail_count: results.length - ok };
    },
  };
};
