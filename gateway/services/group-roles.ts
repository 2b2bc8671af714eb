// Roles and the group's life (spec groups-and-more §3.1, §3.6–§3.9): set_role, transfer_owner,
// dissolve, suspend and resume, each with its `group.changed` kind.

import { ErrorCode } from '../../protocol/errors.ts';
import { RpcError, type AuthedConnection } from '../context.ts';
import { str, MAX_AID } from '../validate.ts';
import type { GroupCore, GroupPart } from './group-core.ts';

export const groupRoleHandlers: GroupPart = (core: GroupCore) => {
  const setRole = core.db.prepare('UPDATE group_members SET role = ? WHERE group_id = ? AND aid = ?');
  const setOwner = core.db.prepare('UPDATE group_info SET owner_aid = ? WHERE group_id = ?');
  const setStatus = core.db.prepare('UPDATE group_info SET status = ? WHERE group_id = ?');
  const dropAll = core.db.prepare('DELETE FROM group_members WHERE group_id = ?');

  function requireOwner(groupId: string, aid: string, what: string) {
    const g = core.requireGroup(groupId);
    if (g.owner_aid !== aid) throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: only the owner of ${groupId} may ${what}`);
    return g;
  }

  function lifecycle(params: object, conn: AuthedConnection, to: 'suspended' | 'active', method: string) {
    const groupId = core.readGroupId(params, conn);
    const g = core.requireGroup(groupId);
    core.requireManager(g, conn.aid, to === 'suspended' ? 'suspend it' : 'resume it');
    if (g.status === to) return { group: core.info(g), status: 'unchanged' as const };
    const after = core.emit(groupId, to === 'suspended' ? 'suspended' : 'resumed', conn.aid, {
      fields: { status: to }, signature: core.relayedSignature(params, method), mutate: () => setStatus.run(to, groupId),
    });
    return { group: core.info(after), status: to };
  }

  return {
    'group.set_role'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const aid = str(params, 'aid', { max: MAX_AID });
      const role = str(params, 'role', { max: 16 });
      if (role !== 'admin' && role !== 'member') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: role must be "admin" or "member" (ownership moves with group.transfer_owner)');
      const g = core.requireGroup(groupId);
      const actor = core.requireMember(g, conn.aid);
      const target = core.memberOf(groupId, aid);
      if (!target) throw new RpcError(ErrorCode.GroupNotMember, `not a member: ${aid} is not a member of ${groupId}`);
      if (target.role === 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: the owner's role changes only by group.transfer_owner`);
      // An admin may step down itself; everything else is the owner's (SDK manual, §3.1).
      const selfDemotion = actor.role === 'admin' && aid === conn.aid && role === 'member';
      if (actor.role !== 'owner' && !selfDemotion) {
        throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: only the owner of ${groupId} may change roles (an admin may only step down itself)`);
      }
      let after = g;
      if (target.role !== role) {
        after = core.emit(groupId, 'role_changed', conn.aid, {
          fields: { member_aid: aid, old_role: target.role, new_role: role },
          signature: core.relayedSignature(params, 'group.set_role'),
          mutate: () => setRole.run(role, groupId, aid),
        });
      }
      const m = core.memberOf(groupId, aid)!;
      return {
        group: core.info(after),
        member: { ...core.memberView(m), group_id: groupId, last_ack_seq: 0, last_pull_at: 0 },
        old_role: target.role,
        new_role: m.role,
        acl_model: 'role_based',
        acl_policy: 'unchanged',
      };
    },

    'group.transfer_owner'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const newOwner = str(params, 'new_owner', { optional: true, max: MAX_AID }) ?? str(params, 'aid', { optional: true, max: MAX_AID });
      if (!newOwner) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: new_owner (or aid) is required');
      const g = requireOwner(groupId, conn.aid, 'transfer ownership');
      if (newOwner === conn.aid) throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${newOwner} already owns ${groupId}`);
      if (!core.memberOf(groupId, newOwner)) throw new RpcError(ErrorCode.GroupNotMember, `not a member: ${newOwner} is not a member of ${groupId}`);
      const after = core.emit(g.group_id, 'owner_transferred', conn.aid, {
        fields: { member_aid: newOwner, old_owner: conn.aid, new_owner: newOwner },
        signature: core.relayedSignature(params, 'group.transfer_owner'),
        mutate: () => {
          setRole.run('owner', groupId, newOwner);
          setRole.run('admin', groupId, conn.aid);
          setOwner.run(newOwner, groupId);
        },
      });
      return { group: core.info(after), old_owner: conn.aid, new_owner: newOwner };
    },

    'group.dissolve'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      requireOwner(groupId, conn.aid, 'dissolve it');
      const before = core.members(groupId).map((m) => m.aid);
      core.emit(groupId, 'dissolved', conn.aid, {
        fields: { status: 'dissolved' },
        signature: core.relayedSignature(params, 'group.dissolve'),
        alsoTell: before,
        mutate: () => {
          setStatus.run('dissolved', groupId);
          dropAll.run(groupId);
        },
      });
      return { group_id: groupId, status: 'dissolved' };
    },

    'group.suspend'(params, conn) {
      return lifecycle(params, conn, 'suspended', 'group.suspend');
    },

    'group.resume'(params, conn) {
      return lifecycle(params, conn, 'active', 'group.resume');
    },
  };
};
