// Invite codes (spec groups-and-more §3.10): owners and admins create, list and revoke them; any
// AID joins with one (`group.changed` `invite_code_used`, which the SDK treats as a self-join).
// The `code` of these events reaches only owners, admins and the joiner (the core's `eventFor`).

import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import type { InviteCode } from '../../protocol/methods-extra.ts';
import { RpcError } from '../context.ts';
import { migrate } from '../db.ts';
import { int, str } from '../validate.ts';
import type { GroupCore, GroupPart } from './group-core.ts';

const MIGRATIONS = [
  `CREATE TABLE group_invite_codes (
     code TEXT PRIMARY KEY,
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     created_by TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     max_uses INTEGER NOT NULL,
     used_count INTEGER NOT NULL,
     revoked INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX group_invite_codes_by_group ON group_invite_codes (group_id, created_at)`,
];

const CODE = /^[a-z0-9][a-z0-9_-]{3,63}$/;
const DEFAULT_TTL_S = 7 * 86_400;
const MAX_USES = 10_000;

interface CodeRecord {
  code: string;
  group_id: string;
  created_by: string;
  expires_at: number;
  max_uses: number;
  used_count: number;
  revoked: number;
  created_at: number;
}

export const groupInviteHandlers: GroupPart = (core: GroupCore) => {
  migrate(core.db, 'group-invites', MIGRATIONS);
  const insert = core.db.prepare('INSERT INTO group_invite_codes (code, group_id, created_by, expires_at, max_uses, used_count, revoked, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)');
  const byCode = core.db.prepare('SELECT * FROM group_invite_codes WHERE code = ?');
  const byGroup = core.db.prepare('SELECT * FROM group_invite_codes WHERE group_id = ? ORDER BY created_at, code');
  const use = core.db.prepare('UPDATE group_invite_codes SET used_count = used_count + 1 WHERE code = ?');
  const revoke = core.db.prepare('UPDATE group_invite_codes SET revoked = 1 WHERE code = ?');
  const suffix = `@${core.issuer}`;

  function view(r: CodeRecord): InviteCode {
    const status = r.revoked ? 'revoked' : r.expires_at <= core.ctx.now() || r.used_count >= r.max_uses ? 'expired' : 'active';
    return {
      group_id: r.group_id, code: r.code, code_with_domain: r.code + suffix, created_by: r.created_by, expires_at: r.expires_at,
      max_uses: r.max_uses, used_count: r.used_count, status, created_at: r.created_at,
    };
  }

  /** Accepts the bare code or `code@issuer` (what `code_with_domain` shows), any case. */
  function readCode(params: object): string {
    let code = str(params, 'code', { max: 128 }).trim().toLowerCase();
    if (code.endsWith(suffix)) code = code.slice(0, -suffix.length);
    return code;
  }

  return {
    'group.create_invite_code'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const custom = str(params, 'code', { optional: true, max: 64 })?.toLowerCase();
      if (custom !== undefined && !CODE.test(custom)) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: code must be 4–64 characters of [a-z0-9_-]');
      const maxUses = int(params, 'max_uses', { optional: true, min: 1, max: MAX_USES }) ?? 1;
      const ttl = int(params, 'expires_in_seconds', { optional: true, min: 1, max: 365 * 86_400 }) ?? DEFAULT_TTL_S;
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'create invite codes');
      const code = custom ?? `ic-${randomBytes(6).toString('hex')}`;
      if (byCode.get(code)) throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: invite code ${code} is already taken`);
      const t = core.ctx.now();
      core.db.transaction(() => {
        insert.run(code, groupId, conn.aid, t + ttl * 1000, maxUses, t);
        core.emit(groupId, 'invite_code_created', conn.aid, { fields: { code } });
      })();
      return { group_id: groupId, invite_code: view(byCode.get(code) as CodeRecord) };
    },

    'group.use_invite_code'(params, conn) {
      const code = readCode(params);
      const r = byCode.get(code) as CodeRecord | undefined;
      if (!r) throw new RpcError(ErrorCode.GroupInviteInvalid, `invite code invalid: ${code} does not exist`);
      const current = view(r);
      if (current.status !== 'active') throw new RpcError(ErrorCode.GroupInviteInvalid, `invite code invalid: ${code} is ${current.status === 'expired' && r.used_count >= r.max_uses ? 'used up' : current.status}`);
      const g = core.requireGroup(r.group_id);
      core.requireActive(g);
      if (core.memberOf(g.group_id, conn.aid)) throw new RpcError(ErrorCode.GroupAlreadyMember, `already a member: ${conn.aid} is already in ${g.group_id}`);
      const after = core.db.transaction(() => {
        use.run(code);
        return core.addMember(g.group_id, conn.aid, 'member', conn.aid, 'invite_code_used', { signature: core.relayedSignature(params, 'group.use_invite_code'), fields: { code } });
      })();
      return { status: 'joined', group: core.info(after), invite_code: view(byCode.get(code) as CodeRecord) };
    },

    'group.list_invite_codes'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const status = str(params, 'status', { optional: true, max: 16 });
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'list invite codes');
      const items = (byGroup.all(groupId) as CodeRecord[]).map(view).filter((c) => status === undefined || c.status === status);
      return { group_id: groupId, items };
    },

    'group.revoke_invite_code'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const code = readCode(params);
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'revoke invite codes');
      const r = byCode.get(code) as CodeRecord | undefined;
      if (!r || r.group_id !== groupId) throw new RpcError(ErrorCode.GroupInviteInvalid, `invite code invalid: ${code} is not a code of ${groupId}`);
      if (!r.revoked) {
        core.db.transaction(() => {
          revoke.run(code);
          core.emit(groupId, 'invite_code_revoked', conn.aid, { fields: { code } });
        })();
      }
      return { group_id: groupId, code, status: 'revoked' };
    },
  };
};
