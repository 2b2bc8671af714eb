// A group's own AID (spec groups-and-more §3.15): `group.bind_group_aid` gives an ordinary group a
// certificate `CN=<group_id>` for a key its owner holds (idempotent for the same key), and
// `group.renew_group_aid` moves a bound group to a new key on a proof by the old one, revoking the
// old certificate. (`group.bind_aid`, which would rename an ordinary group to a named one, is not
// served: a group's id is the key of its messages, events, cursors and every member's state.)

import { createHash } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import { RpcError } from '../context.ts';
import { publicKeyFromSpki, verifyEcdsa } from '../sig.ts';
import { str } from '../validate.ts';
import { readGroupKey, readProof, type GroupCore, type GroupPart } from './group-core.ts';

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export const groupIdentityHandlers: GroupPart = (core: GroupCore) => {
  const db = core.db;
  const getIdentity = db.prepare('SELECT public_key, cert_pem, cert_sn FROM group_identity WHERE group_id = ?');
  const insertIdentity = db.prepare('INSERT OR IGNORE INTO group_identity (group_id, public_key, curve, cert_pem, cert_sn) VALUES (?, ?, ?, ?, ?)');
  const swapIdentity = db.prepare('UPDATE group_identity SET public_key = ?, cert_pem = ?, cert_sn = ? WHERE group_id = ? AND public_key = ?');

  function requireOwner(params: object, conn: Parameters<GroupCore['readGroupId']>[1], what: string) {
    const g = core.requireGroup(core.readGroupId(params, conn));
    if (g.owner_aid !== conn.aid) throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: only the owner of ${g.group_id} may ${what}`);
    return g;
  }

  function curveOf(params: object): void {
    const curve = str(params, 'curve', { optional: true, max: 16 }) ?? 'P-256';
    if (curve !== 'P-256') throw new RpcError(ErrorCode.InvalidParams, `invalid params: curve ${curve} is not supported; use P-256`);
  }

  function answer(groupId: string, cert: { cert_pem: string; cert_sn: string }) {
    const chain = core.ctx.caChain();
    return {
      group: { ...core.info(core.requireGroup(groupId)), group_aid: groupId },
      aid_cert: { cert: cert.cert_pem, agentid: groupId, ca_cert: chain[0]!, ca_chain: chain, cert_sn: cert.cert_sn, curve: 'P-256' as const },
    };
  }

  return {
    async 'group.bind_group_aid'(params, conn) {
      const publicKey = str(params, 'public_key', { max: 1024 });
      curveOf(params);
      const spki = readGroupKey(publicKey, 'public_key');
      const g = requireOwner(params, conn, 'bind a group AID');
      const bound = getIdentity.get(g.group_id) as { public_key: string; cert_pem: string; cert_sn: string } | undefined;
      if (bound) {
        if (bound.public_key !== publicKey) throw new RpcError(ErrorCode.IdentityConflict, `group_aid_already_bound_different_key: ${g.group_id} is bound to another key`);
        return answer(g.group_id, bound);
      }
      const cert = await core.ctx.issueCert(g.group_id, spki);
      insertIdentity.run(g.group_id, publicKey, 'P-256', cert.pem, cert.serial);
      // Two binds at once: the first stored wins, and the other answers as a repeat or a conflict.
      const now = getIdentity.get(g.group_id) as { public_key: string; cert_pem: string; cert_sn: string };
      if (now.public_key !== publicKey) throw new RpcError(ErrorCode.IdentityConflict, `group_aid_already_bound_different_key: ${g.group_id} is bound to another key`);
      return answer(g.group_id, now);
    },

    async 'group.renew_group_aid'(params, conn) {
      const oldKey = str(params, 'old_public_key', { max: 1024 });
      const newKey = str(params, 'new_public_key', { max: 1024 });
      curveOf(params);
      const spki = readGroupKey(newKey, 'new_public_key');
      const g = requireOwner(params, conn, 'renew the group AID');
      const bound = getIdentity.get(g.group_id) as { public_key: string; cert_sn: string } | undefined;
      if (!bound) throw new RpcError(ErrorCode.NotFound, `not found: ${g.group_id} has no group AID; bind one with group.bind_group_aid`);
      if (bound.public_key !== oldKey) throw new RpcError(ErrorCode.InvalidParams, `invalid params: old_public_key is not the key ${g.group_id} is bound to`);
      if (newKey === oldKey) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: new_public_key is the current key');
      const { nonce, issuedMs, signature } = readProof((params as { renew_proof?: unknown }).renew_proof, 'renew_proof', core.ctx.now());
      // As the browser SDK hashes them: the UTF-8 of each key's base64 text (§3.15).
      const text = `aun-group-aid-renew-v1|${g.group_id}|${g.group_id}|${sha256Hex(oldKey)}|${sha256Hex(newKey)}|${nonce}|${issuedMs}`;
      if (!verifyEcdsa(publicKeyFromSpki(oldKey), Buffer.from(text, 'utf8'), signature)) {
        throw new RpcError(ErrorCode.SignatureFailed, 'renew_proof: the signature is not by the old group key');
      }
      const cert = await core.ctx.issueCert(g.group_id, spki);
      if (swapIdentity.run(newKey, cert.pem, cert.serial, g.group_id, oldKey).changes === 0) {
        throw new RpcError(ErrorCode.GroupStateInvalid, `group state invalid: the group AID of ${g.group_id} changed meanwhile`);
      }
      core.ctx.revokeCert(bound.cert_sn);
      return { ...answer(g.group_id, { cert_pem: cert.pem, cert_sn: cert.serial }), old_cert_revoked: true as const };
    },
  };
};
