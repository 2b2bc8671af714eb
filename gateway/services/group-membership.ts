// Creating a group and changing its membership (protocol.md §8.2, §8.3; named groups
// groups-and-more §3.3): create, add_member, kick / remove_member, leave. Every change is one
// `group.changed` event recorded through the core, told to every member, the affected one included.

import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import type { ClientSignature, GroupInfo } from '../../protocol/wire-common.ts';
import { RpcError, type AuthedConnection, type HandlerTable } from '../context.ts';
import { str, MAX_AID } from '../validate.ts';
import { readGroupKey, type GroupCore, type GroupPart, type GroupRecord } from './group-core.ts';

const GROUP_BASE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** A named group's name (spec groups-and-more §3.3). */
const GROUP_NAME = /^(?!guest|g-)[a-z0-9][a-z0-9_-]{3,63}$/;
const JOIN_MODES: ReadonlySet<string> = new Set(['open', 'approval', 'invite_only', 'closed']);
const MEMBER_TYPES: ReadonlySet<string> = new Set(['human', 'ai']);

export const groupMembershipHandlers: GroupPart = (core: GroupCore) => {
  const { ctx, db, issuer, readGroupId, groupRecord, requireGroup, memberOf, requireMember, requireManager, info, memberView, relayedSignature, addMember, emit } = core;
  const insertGroup = db.prepare(
    `INSERT INTO group_info (group_id, name, owner_aid, creator_aid, visibility, join_mode, description, message_seq, event_seq, epoch, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 1, ?, ?)`,
  );
  const insertIdentity = db.prepare('INSERT INTO group_identity (group_id, public_key, curve, cert_pem, cert_sn) VALUES (?, ?, ?, ?, ?)');
  const insertOwner = db.prepare(`INSERT INTO group_members (group_id, aid, role, member_type, joined_at, join_seq, join_event_seq) VALUES (?, ?, 'owner', 'ai', ?, 0, 0)`);
  const deleteMember = db.prepare('DELETE FROM group_members WHERE group_id = ? AND aid = ?');

  /** `group_name` (+ `public_key`, `curve`) of a named group, or null (spec groups-and-more §3.3). */
  function readNamed(params: object): { name: string; publicKey?: string } | null {
    const name = str(params, 'group_name', { optional: true, max: 64 });
    const publicKey = str(params, 'public_key', { optional: true, max: 1024 });
    const curve = str(params, 'curve', { optional: true, max: 16 });
    if (name === undefined) {
      if (publicKey !== undefined) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: public_key needs group_name (a named group)');
      return null;
    }
    if (!GROUP_NAME.test(name)) {
      throw new RpcError(ErrorCode.InvalidParams, 'invalid params: group_name must be 4–64 characters of [a-z0-9_-], starting with a letter or digit, not with "guest" or "g-"');
    }
    if (curve !== undefined && curve !== 'P-256') throw new RpcError(ErrorCode.InvalidParams, `invalid params: curve ${curve} is not supported; use P-256`);
    if (publicKey !== undefined) readGroupKey(publicKey, 'public_key');
    return { name, publicKey };
  }

  /** Removes a member and tells every member, the removed one included. */
  function dropMember(groupId: string, action: 'member_removed' | 'member_left', actor: string, aid: string, signature: ClientSignature | undefined): GroupRecord {
    return emit(groupId, action, actor, { epoch: true, signature, fields: { member_aid: aid }, alsoTell: [aid], mutate: () => deleteMember.run(groupId, aid) });
  }

  function removeMember(params: object, conn: AuthedConnection, method: 'group.kick' | 'group.remove_member'): { group: GroupInfo; removed_aid: string } {
    const groupId = readGroupId(params, conn);
    const aid = str(params, 'aid', { max: MAX_AID });
    const g = requireGroup(groupId);
    const actor = requireManager(g, conn.aid, 'remove members');
    const target = memberOf(groupId, aid);
    if (!target) throw new RpcError(ErrorCode.GroupNotMember, `not a member: ${aid} is not a member of ${groupId}`);
    if (target.role === 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: the owner of ${groupId} cannot be removed`);
    if (target.role === 'admin' && actor.role !== 'owner' && aid !== conn.aid) {
      throw new RpcError(ErrorCode.GroupRoleInsufficient, 'role insufficient: only the owner may remove an admin');
    }
    const after = dropMember(groupId, 'member_removed', conn.aid, aid, relayedSignature(params, method));
    return { group: info(after), removed_aid: aid };
  }

  const handlers: HandlerTable = {
    async 'group.create'(params, conn) {
      const name = str(params, 'name', { optional: true, max: 256 }) ?? '';
      const visibility = str(params, 'visibility', { optional: true, max: 32 }) ?? 'private';
      const joinMode = str(params, 'join_mode', { optional: true, max: 32 }) ?? 'invite_only';
      if (!JOIN_MODES.has(joinMode)) throw new RpcError(ErrorCode.InvalidParams, `invalid params: join_mode must be one of ${[...JOIN_MODES].join(', ')}`);
      const description = str(params, 'description', { optional: true, max: 4096 }) ?? '';
      const named = readNamed(params);
      let groupId = named ? `${named.name}.${issuer}` : readGroupId(params, conn, true);
      if (named) {
        if (groupRecord(groupId!) || ctx.agent(groupId!)) throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: ${groupId} is already taken`);
      } else if (groupId !== undefined) {
        const base = groupId.slice(0, groupId.length - issuer.length - 1);
        if (!groupId.endsWith(`.${issuer}`) || !GROUP_BASE.test(base) || /^\d+$/.test(base)) {
          throw new RpcError(ErrorCode.InvalidParams, `invalid params: a custom group id must be <base>.${issuer} with a base of 1–64 [a-z0-9_-] characters that is not purely numeric`);
        }
        if (groupRecord(groupId) || ctx.agent(groupId)) throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: ${groupId} is already taken`);
      } else {
        do groupId = `g-${randomBytes(6).toString('hex')}.${issuer}`;
        while (groupRecord(groupId));
      }
      const t = ctx.now();
      const id = groupId!;
      const cert = named?.publicKey ? await ctx.issueCert(id, Buffer.from(named.publicKey, 'base64')) : null;
      db.transaction(() => {
        insertGroup.run(id, name, conn.aid, conn.aid, visibility, joinMode, description, t, t);
        insertOwner.run(id, conn.aid, t);
        if (cert) insertIdentity.run(id, named!.publicKey, 'P-256', cert.pem, cert.serial);
      })();
      ctx.push(ctx.longConnections(conn.aid), 'group.created', { module_id: 'group', group_id: id, owner_aid: conn.aid, visibility });
      const group = info(requireGroup(id));
      if (!named) return { group };
      return {
        group: { ...group, group_url: `https://group.${issuer}/${id}` },
        ...(cert ? { aid_cert: { cert: cert.pem, ca_cert: ctx.caChain()[0]!, ca_chain: ctx.caChain(), cert_sn: cert.serial, curve: 'P-256' } } : {}),
      };
    },

    'group.add_member'(params, conn) {
      const groupId = readGroupId(params, conn);
      const aid = str(params, 'aid', { max: MAX_AID });
      const role = str(params, 'role', { optional: true, max: 16 }) ?? 'member';
      if (role !== 'member' && role !== 'admin') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: role must be "member" or "admin"');
      const memberType = str(params, 'member_type', { optional: true, max: 16 }) ?? 'ai';
      if (!MEMBER_TYPES.has(memberType)) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: member_type must be "human" or "ai"');
      const g = requireGroup(groupId);
      const actor = requireManager(g, conn.aid, 'add members');
      if (role === 'admin' && actor.role !== 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, 'role insufficient: only the owner may add an admin');
      if (!ctx.agent(aid)) throw new RpcError(ErrorCode.NotFound, `not found: ${aid} is not registered on this gateway`);
      if (memberOf(groupId, aid)) throw new RpcError(ErrorCode.GroupAlreadyMember, `already a member: ${aid} is already in ${groupId}`);
      const after = addMember(groupId, aid, role, conn.aid, 'member_added', { signature: relayedSignature(params, 'group.add_member'), memberType });
      return { group: info(after), member: memberView(memberOf(groupId, aid)!) };
    },

    'group.kick'(params, conn) {
      return removeMember(params, conn, 'group.kick');
    },

    'group.remove_member'(params, conn) {
      return removeMember(params, conn, 'group.remove_member');
    },

    'group.leave'(params, conn) {
      const groupId = readGroupId(params, conn);
      const g = requireGroup(groupId);
      const m = requireMember(g, conn.aid);
      if (m.role === 'owner') throw new RpcError(ErrorCode.GroupRoleInsufficient, `the owner cannot leave ${groupId}`);
      const after = dropMember(groupId, 'member_left', conn.aid, conn.aid, relayedSignature(params, 'group.leave'));
      return { group: info(after), left_aid: conn.aid };
    },
  };
  return handlers;
};
