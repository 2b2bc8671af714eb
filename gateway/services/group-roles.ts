// Roles and the group's life (spec groups-and-more §3.1, §3.6–§3.9): set_role, transfer_owner
// (in two steps with complete_transfer for a group that owns a group AID), dissolve, suspend and
// resume, each with its `group.changed` kind.

import { createHash } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import { RpcError, type AuthedConnection } from '../context.ts';
import { migrate } from '../db.ts';
import { publicKeyFromSpki, verifyEcdsa } from '../sig.ts';
import { str, MAX_AID } from '../validate.ts';
import { readGroupKey, readProof, type GroupCore, type GroupPart } from './group-core.ts';

// A named group's transfer authorised by its key's holder and waiting for the new owner's key
// (groups-and-more §3.7), one per group.
const TRANSFER_MIGRATIONS = [
  `CREATE TABLE group_transfers (
     group_id TEXT PRIMARY KEY REFERENCES group_info(group_id),
     new_owner TEXT NOT NULL,
     old_owner TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
];
/** A waiting transfer lapses after a day. */
const TRANSFER_TTL_MS = 86_400_000;

export const groupRoleHandlers: GroupPart = (core: GroupCore) => {
  const setRole = core.db.prepare('UPDATE group_members SET role = ? WHERE group_id = ? AND aid = ?');
  const setOwner = core.db.prepare('UPDATE group_info SET owner_aid = ? WHERE group_id = ?');
  const setStatus = core.db.prepare('UPDATE group_info SET status = ? WHERE group_id = ?');
  const dropAll = core.db.prepare('DELETE FROM group_members WHERE group_id = ?');
  migrate(core.db, 'group-transfers', TRANSFER_MIGRATIONS);
  const getIdentity = core.db.prepare('SELECT public_key, cert_sn FROM group_identity WHERE group_id = ?');
  const setIdentity = core.db.prepare('UPDATE group_identity SET public_key = ?, cert_pem = ?, cert_sn = ? WHERE group_id = ?');
  const putTransfer = core.db.prepare(
    `INSERT INTO group_transfers (group_id, new_owner, old_owner, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (group_id) DO UPDATE SET new_owner = excluded.new_owner, old_owner = excluded.old_owner, created_at = excluded.created_at`,
  );
  const getTransfer = core.db.prepare('SELECT new_owner, old_owner, created_at FROM group_transfers WHERE group_id = ?');
  const dropTransfer = core.db.prepare('DELETE FROM group_transfers WHERE group_id = ? AND new_owner = ?');

  const proof = (v: unknown, field: string) => readProof(v, field, core.ctx.now());

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
      const auth = (params as { transfer_auth?: unknown }).transfer_auth;
      if (auth !== undefined) {
        // A group that owns a group AID moves in two steps (§3.7): the group key's holder
        // authorises the new owner here, who then brings a new group key (complete_transfer).
        const identity = getIdentity.get(groupId) as { public_key: string } | undefined;
        if (!identity) throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${groupId} has no group AID; transfer it without transfer_auth`);
        const { nonce, issuedMs, signature } = proof(auth, 'transfer_auth');
        const text = `aun-group-owner-transfer-v1|${groupId}|${groupId}|${newOwner.toLowerCase()}|${nonce}|${issuedMs}`;
        if (!verifyEcdsa(publicKeyFromSpki(identity.public_key), Buffer.from(text, 'utf8'), signature)) {
          throw new RpcError(ErrorCode.SignatureFailed, 'transfer_auth: the signature is not by the group AID\'s key');
        }
        putTransfer.run(groupId, newOwner, conn.aid, core.ctx.now());
        return { group: core.info(g), old_owner: conn.aid, new_owner: newOwner, status: 'pending_rekey' };
      }
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

    async 'group.complete_transfer'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const publicKey = str(params, 'public_key', { max: 1024 });
      const curve = str(params, 'curve', { optional: true, max: 16 }) ?? 'P-256';
      if (curve !== 'P-256') throw new RpcError(ErrorCode.InvalidParams, `invalid params: curve ${curve} is not supported; use P-256`);
      const pending = getTransfer.get(groupId) as { new_owner: string; old_owner: string; created_at: number } | undefined;
      if (!pending || pending.new_owner !== conn.aid || pending.created_at + TRANSFER_TTL_MS <= core.ctx.now()) {
        throw new RpcError(ErrorCode.NotFound, `not found: no transfer of ${groupId} to ${conn.aid} is waiting`);
      }
      const g = core.requireGroup(groupId);
      if (g.owner_aid !== pending.old_owner || !core.memberOf(groupId, conn.aid)) {
        throw new RpcError(ErrorCode.GroupStateInvalid, `group state invalid: ${groupId} changed since the transfer was authorised`);
      }
      const spki = readGroupKey(publicKey, 'public_key');
      const { nonce, issuedMs, signature } = proof((params as { transfer_accept?: unknown }).transfer_accept, 'transfer_accept');
      const agent = core.ctx.agent(conn.aid);
      if (!agent) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${conn.aid}`);
      const keyHash = createHash('sha256').update(publicKey, 'utf8').digest('hex');
      const text = `aun-group-owner-transfer-accept-v1|${groupId}|${groupId}|${conn.aid.toLowerCase()}|${keyHash}|${nonce}|${issuedMs}`;
      if (!verifyEcdsa(publicKeyFromSpki(agent.publicKey), Buffer.from(text, 'utf8'), signature)) {
        throw new RpcError(ErrorCode.SignatureFailed, 'transfer_accept: the signature is not by the new owner\'s key');
      }
      const old = getIdentity.get(groupId) as { cert_sn: string } | undefined;
      const cert = await core.ctx.issueCert(groupId, spki);
      const after = core.db.transaction(() => {
        // Taken once: a second complete finds nothing waiting.
        if (dropTransfer.run(groupId, conn.aid).changes === 0) throw new RpcError(ErrorCode.NotFound, `not found: no transfer of ${groupId} to ${conn.aid} is waiting`);
        setIdentity.run(publicKey, cert.pem, cert.serial, groupId);
        return core.emit(groupId, 'owner_transferred', conn.aid, {
          fields: { member_aid: conn.aid, old_owner: pending.old_owner, new_owner: conn.aid },
          signature: core.relayedSignature(params, 'group.complete_transfer'),
          mutate: () => {
            setRole.run('owner', groupId, conn.aid);
            setRole.run('admin', groupId, pending.old_owner);
            setOwner.run(conn.aid, groupId);
          },
        });
      })();
      // The old group key opens nothing any more.
      if (old) core.ctx.revokeCert(old.cert_sn);
      const chain = core.ctx.caChain();
      return {
        group: { ...core.info(after), group_aid: groupId },
        old_owner: pending.old_owner,
        new_owner: conn.aid,
        aid_cert: { cert: cert.pem, ca_cert: chain[0]!, ca_chain: chain, cert_sn: cert.serial, curve: 'P-256' },
      };
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
