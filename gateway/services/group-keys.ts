// Group keys (protocol.md §7.3): each member device's group SPK (put_group_pk), the bootstrap a
// sender builds a V2 envelope from (every member device with its identity key and SPK, the group's
// epoch and member list, the certificates), which devices of a member the gateway knows, and fast
// stubs for the state-commitment calls (get_state, get_proposal, propose_state, confirm_state).

import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { ErrorCode } from '../../protocol/errors.ts';
import type { CertBundle, DeviceKeys } from '../../protocol/methods.ts';
import { RpcError, type HandlerTable } from '../context.ts';
import { obj, str } from '../validate.ts';
import type { GroupCore } from './group-core.ts';
import { checkDeviceQuota, identityKeyFields, readSpk } from './envelope-check.ts';

interface SpkRow {
  device_id: string;
  spk_id: string;
  spk_pk: string;
  spk_signature: string;
  spk_timestamp: number;
}

export interface GroupKeys {
  handlers: HandlerTable;
  /** Devices of a member the gateway knows: connected once, or holding a P2P or this group's SPK. */
  knownDevices(groupId: string, aid: string): Set<string>;
}

export function createGroupKeys(core: GroupCore): GroupKeys {
  const { ctx, db, readGroupId, requireGroup, requireMember, members } = core;
  const upsertGroupSpk = db.prepare(
    `INSERT INTO group_spk (group_id, aid, device_id, spk_id, spk_pk, spk_signature, spk_timestamp, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET spk_id = excluded.spk_id, spk_pk = excluded.spk_pk,
       spk_signature = excluded.spk_signature, spk_timestamp = excluded.spk_timestamp, updated_at = excluded.updated_at`,
  );
  const hasGroupSpk = db.prepare('SELECT 1 FROM group_spk WHERE group_id = ? AND aid = ? AND device_id = ?');
  const groupSpkDeviceCount = db.prepare('SELECT COUNT(*) AS n FROM group_spk WHERE group_id = ? AND aid = ?');
  const groupSpksOf = db.prepare('SELECT device_id, spk_id, spk_pk, spk_signature, spk_timestamp FROM group_spk WHERE group_id = ? AND aid = ? ORDER BY updated_at, device_id');

  // Coupling with the message service: P2P SPKs (the fallback key of a member without a group
  // SPK) live in its `message_peer_spk` table. Read there with a plain SELECT instead of importing
  // the service; prepared on first use because that table belongs to the 'message' migrations.
  let p2pSpkStmt: Statement | undefined;
  function p2pSpksOf(aid: string): SpkRow[] {
    p2pSpkStmt ??= db.prepare('SELECT device_id, spk_id, spk_pk, spk_signature, spk_timestamp FROM message_peer_spk WHERE aid = ? ORDER BY updated_at, device_id');
    return p2pSpkStmt.all(aid) as SpkRow[];
  }

  /** Devices of an AID the gateway knows: connected once, or holding a P2P or this group's SPK. */
  function devicesOf(aid: string, p2p: SpkRow[], grp: SpkRow[]): Set<string> {
    const out = new Set(ctx.knownDevices(aid));
    for (const r of p2p) out.add(r.device_id);
    for (const r of grp) out.add(r.device_id);
    return out;
  }

  function certsOf(aids: Iterable<string>): Record<string, CertBundle> {
    const certs: Record<string, CertBundle> = {};
    for (const aid of aids) {
      const a = ctx.agent(aid);
      if (a) certs[aid] = { cert_pem: a.certPem, cert_fingerprint: a.certFingerprint, ca_chain: ctx.caChain() };
    }
    return certs;
  }

  const handlers: HandlerTable = {
    'group.v2.put_group_pk'(params, conn) {
      const groupId = readGroupId(params, conn);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      const agent = ctx.agent(conn.aid);
      if (!agent) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${conn.aid}`);
      const spk = readSpk(params, 'group_device_prekey', agent);
      if (!hasGroupSpk.get(groupId, conn.aid, conn.deviceId)) {
        checkDeviceQuota(conn.aid, conn.deviceId, (groupSpkDeviceCount.get(groupId, conn.aid) as { n: number }).n, `group prekeys in ${groupId}`);
      }
      upsertGroupSpk.run(groupId, conn.aid, conn.deviceId, spk.spk_id, spk.spk_pk, spk.spk_signature, spk.spk_timestamp, ctx.now());
      return { ok: true };
    },

    'group.v2.bootstrap'(params, conn) {
      const groupId = readGroupId(params, conn);
      obj(params, 'e2ee_wrap_capabilities', { optional: true });
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      const list = members(groupId);
      const devices: DeviceKeys[] = [];
      for (const m of list) {
        const agent = ctx.agent(m.aid);
        if (!agent) continue;
        const ik = identityKeyFields(agent);
        const p2p = p2pSpksOf(m.aid);
        const grp = groupSpksOf.all(groupId, m.aid) as SpkRow[];
        const p2pBy = new Map(p2p.map((r) => [r.device_id, r]));
        const grpBy = new Map(grp.map((r) => [r.device_id, r]));
        for (const d of devicesOf(m.aid, p2p, grp)) {
          if (m.aid === conn.aid && d === conn.deviceId) continue;
          const entry: DeviceKeys = { aid: m.aid, device_id: d, ...ik };
          const gs = grpBy.get(d);
          const ps = p2pBy.get(d);
          const spk = gs ?? ps;
          if (spk) {
            entry.spk_id = spk.spk_id;
            entry.spk_pk = spk.spk_pk;
            entry.spk_signature = spk.spk_signature;
            entry.spk_timestamp = spk.spk_timestamp;
            entry.key_source = gs ? 'group_device_prekey' : 'peer_device_prekey';
          }
          devices.push(entry);
        }
      }
      const aids = list.map((m) => m.aid);
      return {
        devices,
        audit_recipients: [],
        epoch: g.epoch,
        member_aids: aids,
        committed_member_aids: aids,
        pending_adds: [],
        pending_removes: [],
        state_version: 0,
        state_hash: '',
        state_chain: '',
        e2ee_security_level: 'end_to_end',
        certs: certsOf(aids),
      };
    },

    'group.get_state'(params, conn) {
      const g = requireGroup(readGroupId(params, conn));
      requireMember(g, conn.aid);
      return { state_version: 0, state_hash: '', key_epoch: g.epoch, membership_snapshot: '' };
    },

    'group.v2.get_proposal'(params, conn) {
      requireGroup(readGroupId(params, conn));
      return { proposal: null };
    },

    'group.v2.propose_state'(params, conn) {
      requireGroup(readGroupId(params, conn));
      return { proposal_id: `p-${randomUUID()}`, accepted: false };
    },

    'group.v2.confirm_state'(params) {
      str(params, 'proposal_id', { max: 256 });
      return { ok: true };
    },
  };

  return {
    handlers,
    knownDevices: (groupId, aid) => devicesOf(aid, p2pSpksOf(aid), groupSpksOf.all(groupId, aid) as SpkRow[]),
  };
}
