// Groups (protocol.md §7.3, §8, §13.3): create and membership with ordered `group.changed`
// events, V2 and plaintext messages in one per-group seq space, per-device message and event
// cursors, group SPKs and bootstrap, and fast stubs for the state-commitment calls. Everything is
// in SQLite so a restart on the same data dir loses nothing.
//
// Membership changes bump both the group's event_seq and its epoch (so a V2 send built from a
// bootstrap taken before the change fails with -33052 and the SDK re-bootstraps).

import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { ErrorCode } from '../../protocol/errors.ts';
import type { EventMap, EventName } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type {
  ClientSignature, CertBundle, DeviceKeys, GroupCursor, GroupEvent, GroupGetInfoResult, GroupInfo,
  GroupMember, GroupRow, GroupSendResult, GroupV2SendResult,
} from '../../protocol/methods.ts';
import { RpcError, type AuthedConnection, type GatewayContext, type HandlerTable, type Service } from '../context.ts';
import type { EmitOptions, EventFields, GroupCore, GroupRecord, MemberRecord, MessageRecord, Role } from './group-core.ts';
import { groupInviteHandlers } from './group-invites.ts';
import { groupRoleHandlers } from './group-roles.ts';
import { groupSettingsHandlers } from './group-settings.ts';
import { createNotify } from './notify.ts';
import { groupRecallHandlers } from './recall.ts';
import { thoughtHandlers } from './thoughts.ts';
import { migrate } from '../db.ts';
import { int, obj, str, MAX_AID, MAX_MESSAGE_ID, MAX_PAYLOAD_BYTES } from '../validate.ts';
import { GROUP_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import {
  ROW,
  checkDeviceKnown,
  checkEnvelopeShape,
  checkFreshness,
  checkRowsAndDigest,
  checkSender,
  identityKeyFields,
  mismatch,
  readSpk,
} from './envelope-check.ts';

const MIGRATIONS = [
  `CREATE TABLE group_info (
     group_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     owner_aid TEXT NOT NULL,
     creator_aid TEXT NOT NULL,
     visibility TEXT NOT NULL,
     join_mode TEXT NOT NULL,
     description TEXT NOT NULL,
     message_seq INTEGER NOT NULL,
     event_seq INTEGER NOT NULL,
     epoch INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE group_members (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     aid TEXT NOT NULL,
     role TEXT NOT NULL,
     member_type TEXT NOT NULL,
     joined_at INTEGER NOT NULL,
     join_seq INTEGER NOT NULL,
     join_event_seq INTEGER NOT NULL,
     PRIMARY KEY (group_id, aid)
   );
   CREATE INDEX group_members_by_aid ON group_members (aid);
   CREATE TABLE group_messages (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     seq INTEGER NOT NULL,
     message_id TEXT NOT NULL,
     sender_aid TEXT NOT NULL,
     version TEXT NOT NULL,
     msg_type TEXT NOT NULL,
     body TEXT NOT NULL,
     t_server INTEGER NOT NULL,
     PRIMARY KEY (group_id, seq),
     UNIQUE (group_id, message_id)
   );
   CREATE TABLE group_wraps (
     group_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     PRIMARY KEY (group_id, seq, aid, device_id)
   );
   CREATE TABLE group_events (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     event_seq INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (group_id, event_seq)
   );
   CREATE TABLE group_cursors (
     group_id TEXT NOT NULL,
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     message_ack_seq INTEGER NOT NULL,
     event_ack_seq INTEGER NOT NULL,
     PRIMARY KEY (group_id, aid, device_id)
   );
   CREATE TABLE group_spk (
     group_id TEXT NOT NULL,
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     spk_id TEXT NOT NULL,
     spk_pk TEXT NOT NULL,
     spk_signature TEXT NOT NULL,
     spk_timestamp INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (group_id, aid, device_id)
   )`,
  `ALTER TABLE group_info ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
   ALTER TABLE group_info ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE group_identity (
     group_id TEXT PRIMARY KEY REFERENCES group_info(group_id),
     public_key TEXT NOT NULL,
     curve TEXT NOT NULL,
     cert_pem TEXT NOT NULL,
     cert_sn TEXT NOT NULL
   )`,
];

const PAGE_LIMIT = 50;
const MAX_MEMBERS_PAGE = 200;
const MAX_GROUP_ID = 300;
const GROUP_BASE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** A named group's name (spec groups-and-more §3.3). */
const GROUP_NAME = /^(?!guest|g-)[a-z0-9][a-z0-9_-]{3,63}$/;
const GROUP_ID = /^[a-z0-9][a-z0-9_-]{0,63}\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;
const JOIN_MODES: ReadonlySet<string> = new Set(['open', 'approval', 'invite_only', 'closed']);
const MEMBER_TYPES: ReadonlySet<string> = new Set(['human', 'ai']);
const ROW_ROLES: ReadonlySet<string> = new Set(['member', 'self_sync', 'audit']);

interface SpkRow {
  device_id: string;
  spk_id: string;
  spk_pk: string;
  spk_signature: string;
  spk_timestamp: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function createGroupService(ctx: GatewayContext): Service {
  const db = ctx.db;
  const issuer = ctx.config.issuer;
  migrate(db, 'group', MIGRATIONS);

  const getGroup = db.prepare('SELECT * FROM group_info WHERE group_id = ?');
  const insertGroup = db.prepare(
    `INSERT INTO group_info (group_id, name, owner_aid, creator_aid, visibility, join_mode, description, message_seq, event_seq, epoch, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 1, ?, ?)`,
  );
  const bumpEvent = db.prepare('UPDATE group_info SET event_seq = event_seq + 1, epoch = epoch + ?, updated_at = ? WHERE group_id = ?');
  const insertIdentity = db.prepare('INSERT INTO group_identity (group_id, public_key, curve, cert_pem, cert_sn) VALUES (?, ?, ?, ?, ?)');
  const bumpMessage = db.prepare('UPDATE group_info SET message_seq = message_seq + 1 WHERE group_id = ?');
  const getMember = db.prepare('SELECT aid, role, member_type, joined_at, join_seq, join_event_seq FROM group_members WHERE group_id = ? AND aid = ?');
  const listMembers = db.prepare('SELECT aid, role, member_type, joined_at, join_seq, join_event_seq FROM group_members WHERE group_id = ? ORDER BY joined_at, aid');
  const countMembers = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?');
  const countMembersByRole = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE group_id = ? AND (? IS NULL OR role = ?)');
  const pageMembers = db.prepare(
    `SELECT m.aid, m.role, m.member_type, m.joined_at, m.join_seq,
       COALESCE((SELECT MAX(c.message_ack_seq) FROM group_cursors c WHERE c.group_id = m.group_id AND c.aid = m.aid), 0) AS acked
     FROM group_members m WHERE m.group_id = ? AND (? IS NULL OR m.role = ?)
     ORDER BY m.joined_at, m.aid LIMIT ? OFFSET ?`,
  );
  const insertMember = db.prepare('INSERT INTO group_members (group_id, aid, role, member_type, joined_at, join_seq, join_event_seq) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const deleteMember = db.prepare('DELETE FROM group_members WHERE group_id = ? AND aid = ?');
  const groupsOf = db.prepare('SELECT m.group_id, m.role FROM group_members m WHERE m.aid = ? ORDER BY m.joined_at, m.group_id');
  const pageGroupsOf = db.prepare('SELECT m.group_id, m.role FROM group_members m WHERE m.aid = ? ORDER BY m.joined_at, m.group_id LIMIT ? OFFSET ?');
  const countGroupsOf = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE aid = ?');
  const insertEvent = db.prepare('INSERT INTO group_events (group_id, event_seq, body) VALUES (?, ?, ?)');
  const pullEvents = db.prepare('SELECT body FROM group_events WHERE group_id = ? AND event_seq > ? ORDER BY event_seq LIMIT ?');
  const insertMessage = db.prepare('INSERT INTO group_messages (group_id, seq, message_id, sender_aid, version, msg_type, body, t_server) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const messageById = db.prepare('SELECT seq, message_id, sender_aid, version, msg_type, body, t_server FROM group_messages WHERE group_id = ? AND message_id = ?');
  const insertWrap = db.prepare('INSERT OR IGNORE INTO group_wraps (group_id, seq, aid, device_id) VALUES (?, ?, ?, ?)');
  // A device sees plaintext rows and the V2 rows it has a wrap for, per device or per AID ("").
  const VISIBLE = `m.group_id = ? AND m.seq > ? AND (m.version = 'v1' OR EXISTS (
      SELECT 1 FROM group_wraps w WHERE w.group_id = m.group_id AND w.seq = m.seq AND w.aid = ? AND w.device_id IN (?, '')))`;
  const pullMessages = db.prepare(`SELECT m.seq, m.message_id, m.sender_aid, m.version, m.msg_type, m.body, m.t_server FROM group_messages m WHERE ${VISIBLE} ORDER BY m.seq LIMIT ?`);
  const countVisible = db.prepare(`SELECT COUNT(*) AS n FROM group_messages m WHERE ${VISIBLE}`);
  const getCursor = db.prepare('SELECT message_ack_seq, event_ack_seq FROM group_cursors WHERE group_id = ? AND aid = ? AND device_id = ?');
  const advanceMessageCursor = db.prepare(
    `INSERT INTO group_cursors (group_id, aid, device_id, message_ack_seq, event_ack_seq) VALUES (?, ?, ?, ?, 0)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET message_ack_seq = MAX(message_ack_seq, excluded.message_ack_seq)`,
  );
  const advanceEventCursor = db.prepare(
    `INSERT INTO group_cursors (group_id, aid, device_id, message_ack_seq, event_ack_seq) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET event_ack_seq = MAX(event_ack_seq, excluded.event_ack_seq)`,
  );
  const upsertGroupSpk = db.prepare(
    `INSERT INTO group_spk (group_id, aid, device_id, spk_id, spk_pk, spk_signature, spk_timestamp, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (group_id, aid, device_id) DO UPDATE SET spk_id = excluded.spk_id, spk_pk = excluded.spk_pk,
       spk_signature = excluded.spk_signature, spk_timestamp = excluded.spk_timestamp, updated_at = excluded.updated_at`,
  );
  const groupSpksOf = db.prepare('SELECT device_id, spk_id, spk_pk, spk_signature, spk_timestamp FROM group_spk WHERE group_id = ? AND aid = ? ORDER BY updated_at, device_id');

  // Coupling with the message service: P2P SPKs (the fallback key of a member without a group
  // SPK) live in its `message_peer_spk` table. Read there with a plain SELECT instead of importing
  // the service; prepared on first use because that table belongs to the 'message' migrations.
  let p2pSpkStmt: Statement | undefined;
  function p2pSpksOf(aid: string): SpkRow[] {
    p2pSpkStmt ??= db.prepare('SELECT device_id, spk_id, spk_pk, spk_signature, spk_timestamp FROM message_peer_spk WHERE aid = ? ORDER BY updated_at, device_id');
    return p2pSpkStmt.all(aid) as SpkRow[];
  }

  // ---- ids and params ----

  /** `group.<issuer>/<base>` and `<base>@<issuer>` → `<base>.<issuer>`; lower case (spec §8.1). */
  function normalizeGroupId(raw: string): string {
    let s = raw.trim().toLowerCase();
    const slash = /^group\.([^/]+)\/(.+)$/.exec(s);
    const at = /^([^@]+)@(.+)$/.exec(s);
    if (slash) s = `${slash[2]}.${slash[1]}`;
    else if (at) s = `${at[1]}.${at[2]}`;
    if (!s.includes('.')) s = `${s}.${issuer}`;
    return s;
  }

  /** The group named by `group_id` / `group_aid` (either; both must agree), normalised. */
  function readGroupId(params: object, conn: AuthedConnection, optional: true): string | undefined;
  function readGroupId(params: object, conn: AuthedConnection, optional?: false): string;
  function readGroupId(params: object, conn: AuthedConnection, optional = false): string | undefined {
    const gid = str(params, 'group_id', { optional: true, max: MAX_GROUP_ID });
    const gaid = str(params, 'group_aid', { optional: true, max: MAX_GROUP_ID });
    const a = gid ? normalizeGroupId(gid) : undefined;
    const b = gaid ? normalizeGroupId(gaid) : undefined;
    if (a !== undefined && b !== undefined && a !== b) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: group_id ${gid} and group_aid ${gaid} name different groups`);
    }
    const deviceId = str(params, 'device_id', { optional: true, max: 128 });
    if (deviceId && deviceId !== conn.deviceId) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: device_id ${deviceId} is not this connection's device ${conn.deviceId}`);
    }
    str(params, 'slot_id', { optional: true, max: 128 });
    const id = a ?? b;
    if (id === undefined) {
      if (optional) return undefined;
      throw new RpcError(ErrorCode.InvalidParams, 'invalid params: group_id (or group_aid) is required');
    }
    if (!GROUP_ID.test(id)) throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${id} is not a group id (<base>.<issuer>)`);
    return id;
  }

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
    if (publicKey !== undefined) {
      let ok = false;
      try {
        ok = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve === 'prime256v1';
      } catch {
        ok = false;
      }
      if (!ok) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: public_key must be the base64 SPKI DER of a P-256 key');
    }
    return { name, publicKey };
  }

  function page(params: object, maxSize: number): { page: number; size: number } {
    const p = int(params, 'page', { optional: true, min: 1 }) ?? 1;
    const size = Math.min(int(params, 'size', { optional: true, min: 1 }) ?? PAGE_LIMIT, maxSize);
    return { page: p, size };
  }

  function pageLimit(params: object): number {
    const limit = int(params, 'limit', { optional: true, min: 0 });
    return !limit ? PAGE_LIMIT : Math.min(limit, PAGE_LIMIT);
  }

  // ---- records ----

  function requireGroup(groupId: string): GroupRecord {
    const g = getGroup.get(groupId) as GroupRecord | undefined;
    if (!g) throw new RpcError(ErrorCode.GroupNotFound, `group not found: ${groupId}`);
    if (g.status === 'dissolved') throw new RpcError(ErrorCode.GroupNotFound, `group not found: ${groupId} was dissolved`);
    return g;
  }

  function requireActive(g: GroupRecord): void {
    if (g.status === 'suspended') throw new RpcError(ErrorCode.GroupSuspended, `group suspended: ${g.group_id} is suspended; an admin may resume it`);
  }

  function memberOf(groupId: string, aid: string): MemberRecord | null {
    return (getMember.get(groupId, aid) as MemberRecord | undefined) ?? null;
  }

  function requireMember(g: GroupRecord, aid: string): MemberRecord {
    const m = memberOf(g.group_id, aid);
    if (!m) throw new RpcError(ErrorCode.GroupNotMember, `not a member: ${aid} is not a member of ${g.group_id}`);
    return m;
  }

  function requireManager(g: GroupRecord, aid: string, what: string): MemberRecord {
    const m = memberOf(g.group_id, aid);
    if (!m || (m.role !== 'owner' && m.role !== 'admin')) {
      throw new RpcError(ErrorCode.GroupRoleInsufficient, `role insufficient: only the owner or an admin of ${g.group_id} may ${what}`);
    }
    return m;
  }

  function members(groupId: string): MemberRecord[] {
    return listMembers.all(groupId) as MemberRecord[];
  }

  function info(g: GroupRecord): GroupInfo {
    return {
      group_id: g.group_id,
      group_aid: g.group_id,
      name: g.name,
      owner_aid: g.owner_aid,
      creator_aid: g.creator_aid,
      visibility: g.visibility,
      join_mode: g.join_mode,
      description: g.description,
      status: g.status,
      member_count: (countMembers.get(g.group_id) as { n: number }).n,
      message_seq: g.message_seq,
      event_seq: g.event_seq,
      created_at: g.created_at,
      updated_at: g.updated_at,
      e2ee_epoch: g.epoch,
    };
  }

  function memberView(m: MemberRecord): GroupMember {
    return { aid: m.aid, role: m.role, member_type: m.member_type, joined_at: m.joined_at };
  }

  function certsOf(aids: Iterable<string>): Record<string, CertBundle> {
    const certs: Record<string, CertBundle> = {};
    for (const aid of aids) {
      const a = ctx.agent(aid);
      if (a) certs[aid] = { cert_pem: a.certPem, cert_fingerprint: a.certFingerprint, ca_chain: ctx.caChain() };
    }
    return certs;
  }

  function pushToMembers<E extends EventName>(aids: Iterable<string>, event: E, params: EventMap[E], except?: AuthedConnection): void {
    for (const aid of new Set(aids)) {
      const conns = ctx.longConnections(aid).filter((c) => c !== except);
      if (conns.length > 0) ctx.push(conns, event, params);
    }
  }

  // ---- cursors: a device's cursor never sits below the member's join point ----

  function messageCursor(g: GroupRecord, m: MemberRecord, conn: AuthedConnection): GroupCursor {
    const stored = (getCursor.get(g.group_id, m.aid, conn.deviceId) as { message_ack_seq: number } | undefined)?.message_ack_seq ?? 0;
    const current = Math.max(stored, m.join_seq);
    const unread = (countVisible.get(g.group_id, current, m.aid, conn.deviceId) as { n: number }).n;
    return { current_seq: current, join_seq: m.join_seq, latest_seq: g.message_seq, unread_count: unread };
  }

  /** Moves a member device's message cursor up to `upTo` (never past the group, never back). */
  function ackMessages(groupId: string, upTo: number, conn: AuthedConnection): GroupCursor {
    const g = requireGroup(groupId);
    const m = requireMember(g, conn.aid);
    advanceMessageCursor.run(groupId, conn.aid, conn.deviceId, Math.min(upTo, g.message_seq));
    return messageCursor(g, m, conn);
  }

  function eventFloor(m: MemberRecord): number {
    return Math.max(0, m.join_event_seq - 1);
  }

  function eventCursor(g: GroupRecord, m: MemberRecord, conn: AuthedConnection): GroupCursor {
    const stored = (getCursor.get(g.group_id, m.aid, conn.deviceId) as { event_ack_seq: number } | undefined)?.event_ack_seq ?? 0;
    const floor = eventFloor(m);
    const current = Math.max(stored, floor);
    return { current_seq: current, join_seq: floor, latest_seq: g.event_seq, unread_count: Math.max(0, g.event_seq - current) };
  }

  // ---- membership changes ----

  function relayedSignature(params: object, method: string): ClientSignature | undefined {
    const cs = (params as { client_signature?: unknown }).client_signature;
    return isRecord(cs) ? ({ ...cs, _method: method } as ClientSignature) : undefined;
  }

  const applyEvent = db.transaction((groupId: string, action: string, actor: string, opts: EmitOptions): { event: GroupEvent; group: GroupRecord } => {
    const t = ctx.now();
    bumpEvent.run(opts.epoch ? 1 : 0, t, groupId);
    let g = getGroup.get(groupId) as GroupRecord;
    if (opts.mutate) {
      opts.mutate(g);
      g = getGroup.get(groupId) as GroupRecord;
    }
    const event: GroupEvent = {
      module_id: 'group',
      action,
      group_id: groupId,
      event_seq: g.event_seq,
      actor_aid: actor,
      ...opts.fields,
      created_at: t,
      event_type: 'group.changed',
      ...(opts.signature ? { client_signature: opts.signature } : {}),
    };
    insertEvent.run(groupId, g.event_seq, JSON.stringify(event));
    return { event, group: g };
  });

  function emit(groupId: string, action: string, actor: string, opts: EmitOptions = {}): GroupRecord {
    const { event, group } = applyEvent(groupId, action, actor, opts);
    pushToMembers([...members(groupId).map((m) => m.aid), ...(opts.alsoTell ?? [])], 'group.changed', event);
    return group;
  }

  function addMember(groupId: string, aid: string, role: Role, actor: string, action: string, signature?: ClientSignature, fields?: EventFields): GroupRecord {
    return emit(groupId, action, actor, {
      epoch: true, signature, fields: { member_aid: aid, ...fields },
      mutate: (g) => insertMember.run(groupId, aid, role, 'ai', ctx.now(), g.message_seq, g.event_seq),
    });
  }

  /** Removes a member and tells every member, the removed one included. */
  function dropMember(groupId: string, action: 'member_removed' | 'member_left', actor: string, aid: string, signature: ClientSignature | undefined): GroupRecord {
    return emit(groupId, action, actor, { epoch: true, signature, fields: { member_aid: aid }, alsoTell: [aid], mutate: () => deleteMember.run(groupId, aid) });
  }

  // ---- messages ----

  function v2Result(groupId: string, r: MessageRecord, status: GroupV2SendResult['status']): GroupV2SendResult {
    return { group_id: groupId, seq: r.seq, message_id: r.message_id, t_server: r.t_server, status };
  }

  function plainResult(groupId: string, r: MessageRecord, status: GroupSendResult['status']): GroupSendResult {
    return {
      group_id: groupId,
      message: {
        group_id: groupId,
        seq: r.seq,
        message_id: r.message_id,
        sender_aid: r.sender_aid,
        message_type: r.msg_type,
        dispatch_mode: 'broadcast',
        payload: JSON.parse(r.body) as JsonObject,
        created_at: r.t_server,
      },
      dispatch_mode: 'broadcast',
      status,
    };
  }

  /**
   * An earlier message with this id: the sender's own of the same kind → its record (a duplicate);
   * another sender's, or a V2 id reused for plaintext or back → -32602.
   */
  function earlier(groupId: string, messageId: string, sender: string, version: MessageRecord['version']): MessageRecord | null {
    const r = messageById.get(groupId, messageId) as MessageRecord | undefined;
    if (!r) return null;
    if (r.sender_aid !== sender) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_id ${messageId} is already used in ${groupId} by another sender; use a fresh id`);
    }
    if (r.version !== version) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_id ${messageId} is already used in ${groupId} by a ${r.version === 'v2' ? 'V2' : 'plaintext'} message; use a fresh id`);
    }
    return r;
  }

  const storeMessage = db.transaction(
    (groupId: string, r: Omit<MessageRecord, 'seq'>, wraps: [string, string][]): MessageRecord => {
      bumpMessage.run(groupId);
      const { message_seq: seq } = getGroup.get(groupId) as GroupRecord;
      insertMessage.run(groupId, seq, r.message_id, r.sender_aid, r.version, r.msg_type, r.body, r.t_server);
      for (const [aid, deviceId] of wraps) insertWrap.run(groupId, seq, aid, deviceId);
      return { ...r, seq };
    },
  );

  function groupRow(groupId: string, r: MessageRecord): GroupRow {
    const row: GroupRow = { seq: r.seq, version: r.version, message_id: r.message_id, from_aid: r.sender_aid, group_id: groupId, t_server: r.t_server };
    if (r.version === 'v2') row.envelope_json = r.body;
    else {
      row.type = r.msg_type;
      row.payload = JSON.parse(r.body) as JsonObject;
    }
    return row;
  }

  /** Devices of an AID the gateway knows: connected once, or holding a P2P or this group's SPK. */
  function devicesOf(aid: string, p2p: SpkRow[], grp: SpkRow[]): string[] {
    const out = [...ctx.knownDevices(aid)];
    for (const r of [...p2p, ...grp]) if (!out.includes(r.device_id)) out.push(r.device_id);
    return out;
  }

  /**
   * aad.group_id and the top-level epoch are required; the top-level group_id (an unauthenticated
   * copy) and aad.epoch must agree when present. Wrong group → -33050, old epoch → -33052.
   */
  function checkGroupBinding(checked: ReturnType<typeof checkEnvelopeShape>, g: GroupRecord): void {
    const ids: [string, unknown][] = [['aad.group_id', checked.aad.group_id], ['group_id', checked.envelope.group_id]];
    const epochs: [string, unknown][] = [['epoch', checked.envelope.epoch], ['aad.epoch', checked.aad.epoch]];
    for (const [i, [name, v]] of ids.entries()) {
      if (v === undefined && i > 0) continue;
      if (typeof v !== 'string') throw new RpcError(ErrorCode.InvalidParams, `invalid V2 envelope: ${name} must be a string`);
      if (normalizeGroupId(v) !== g.group_id) mismatch(`${name} ${v} is not the group ${g.group_id}`);
    }
    for (const [i, [name, v]] of epochs.entries()) {
      if (v === undefined && i > 0) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RpcError(ErrorCode.InvalidParams, `invalid V2 envelope: ${name} must be an integer`);
      if (v !== g.epoch) {
        throw new RpcError(ErrorCode.V2EpochMismatch, `epoch_mismatch: ${name} ${v} is not the current epoch ${g.epoch} of ${g.group_id}; bootstrap again`, { epoch: g.epoch });
      }
    }
  }

  function rejectNonV2(payload: JsonObject): void {
    if (typeof payload.type === 'string' && payload.type.startsWith('e2ee.')) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: encrypted payload ${payload.type} must go through group.v2.send`);
    }
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
        if (getGroup.get(groupId) || ctx.agent(groupId!)) throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: ${groupId} is already taken`);
      } else if (groupId !== undefined) {
        const base = groupId.slice(0, groupId.length - issuer.length - 1);
        if (!groupId.endsWith(`.${issuer}`) || !GROUP_BASE.test(base) || /^\d+$/.test(base)) {
          throw new RpcError(ErrorCode.InvalidParams, `invalid params: a custom group id must be <base>.${issuer} with a base of 1–64 [a-z0-9_-] characters that is not purely numeric`);
        }
        if (getGroup.get(groupId) || ctx.agent(groupId)) throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: ${groupId} is already taken`);
      } else {
        do groupId = `g-${randomBytes(6).toString('hex')}.${issuer}`;
        while (getGroup.get(groupId));
      }
      const t = ctx.now();
      const id = groupId!;
      const cert = named?.publicKey ? await ctx.issueCert(id, Buffer.from(named.publicKey, 'base64')) : null;
      db.transaction(() => {
        insertGroup.run(id, name, conn.aid, conn.aid, visibility, joinMode, description, t, t);
        insertMember.run(id, conn.aid, 'owner', 'ai', t, 0, 0);
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
      const after = emit(groupId, 'member_added', conn.aid, {
        epoch: true, signature: relayedSignature(params, 'group.add_member'), fields: { member_aid: aid },
        mutate: (g2) => insertMember.run(groupId, aid, role, memberType, ctx.now(), g2.message_seq, g2.event_seq),
      });
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

    'group.v2.put_group_pk'(params, conn) {
      const groupId = readGroupId(params, conn);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      const agent = ctx.agent(conn.aid);
      if (!agent) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${conn.aid}`);
      const spk = readSpk(params, 'group_device_prekey', agent);
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

    'group.v2.send'(params, conn) {
      const groupId = readGroupId(params, conn);
      const envelope = obj(params, 'envelope', {}) as JsonObject;
      const bytes = Buffer.byteLength(JSON.stringify(envelope), 'utf8');
      if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `envelope too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      requireActive(g);
      const checked = checkEnvelopeShape(envelope, GROUP_ENVELOPE_TYPE);
      const dup = earlier(groupId, checked.messageId, conn.aid, 'v2');
      if (dup) return v2Result(groupId, dup, 'duplicate');
      checkSender(checked.aad, conn.aid, conn.deviceId);
      checkGroupBinding(checked, g);
      checkFreshness(checked, ctx.now(), ctx.config);
      checkRowsAndDigest(checked);
      const current = new Set(members(groupId).map((m) => m.aid));
      const wraps: [string, string][] = [];
      checked.rows.forEach((row, i) => {
        const aid = row[ROW.aid];
        const deviceId = row[ROW.deviceId];
        const role = row[ROW.role];
        if (!ROW_ROLES.has(role)) mismatch(`recipients[${i}] role ${role} must be member, self_sync or audit in a group envelope`);
        if (role === 'audit') return; // the gateway announces no audit recipients; nothing to deliver
        if (!current.has(aid)) {
          throw new RpcError(ErrorCode.V2MemberListChanged, `member_list_changed: recipients[${i}] names ${aid}, who is not a member of ${groupId}; bootstrap again`, { aid });
        }
        if (deviceId !== '') {
          const p2p = p2pSpksOf(aid);
          const grp = groupSpksOf.all(groupId, aid) as SpkRow[];
          const known = devicesOf(aid, p2p, grp);
          if (aid === conn.aid && !known.includes(conn.deviceId)) known.push(conn.deviceId);
          checkDeviceKnown(aid, deviceId, known);
        }
        wraps.push([aid, deviceId]);
      });
      const stored = storeMessage(groupId, {
        message_id: checked.messageId, sender_aid: conn.aid, version: 'v2', msg_type: GROUP_ENVELOPE_TYPE,
        body: JSON.stringify(envelope), t_server: ctx.now(),
      }, wraps);
      ctx.count('messages_stored');
      const memberAids = [...current].filter((a) => a !== conn.aid);
      pushToMembers(current, 'group.v2.message_created', {
        group_id: groupId, seq: stored.seq, message_id: stored.message_id, sender_aid: conn.aid, member_aids: memberAids,
      }, conn);
      for (const aid of memberAids) ctx.messageStored({ to: aid, from: conn.aid, messageId: stored.message_id, ts: stored.t_server, groupId });
      return v2Result(groupId, stored, 'sent');
    },

    'group.send'(params, conn) {
      const groupId = readGroupId(params, conn);
      const payload = obj(params, 'payload', {}) as JsonObject;
      const type = str(params, 'type', { optional: true, max: 64 });
      const paramId = str(params, 'message_id', { optional: true, max: MAX_MESSAGE_ID });
      const p = params as unknown as Record<string, unknown>;
      if (p.persist !== undefined || p.delivery_mode !== undefined) {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: group.send takes no persist or delivery_mode (group messages are always stored and fanned out)');
      }
      rejectNonV2(payload);
      const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
      if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `payload too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
      const g = requireGroup(groupId);
      requireMember(g, conn.aid);
      requireActive(g);
      if (paramId === '') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: message_id must not be empty');
      const messageId = paramId ?? `gm-${randomUUID()}`;
      const dup = earlier(groupId, messageId, conn.aid, 'v1');
      if (dup) return plainResult(groupId, dup, 'duplicate');
      const msgType = type ?? (typeof payload.type === 'string' ? payload.type : 'text');
      const stored = storeMessage(groupId, {
        message_id: messageId, sender_aid: conn.aid, version: 'v1', msg_type: msgType, body: JSON.stringify(payload), t_server: ctx.now(),
      }, []);
      ctx.count('messages_stored');
      const current = members(groupId).map((m) => m.aid);
      pushToMembers(current, 'group.message_created', {
        module_id: 'group', group_id: groupId, seq: stored.seq, message_id: messageId, sender_aid: conn.aid, type: msgType,
        dispatch_mode: 'broadcast', dispatch: { mode: 'broadcast', reason: 'duty_disabled' }, payload, kind: 'group.broadcast',
        member_aids: current.filter((a) => a !== conn.aid),
      }, conn);
      for (const aid of current) ctx.messageStored({ to: aid, from: conn.aid, messageId, ts: stored.t_server, groupId });
      return plainResult(groupId, stored, 'sent');
    },

    'group.v2.pull'(params, conn) {
      const groupId = readGroupId(params, conn);
      const afterSeq = int(params, 'after_seq', { optional: true, min: 0 });
      const limit = pageLimit(params);
      const ackUpTo = int(params, 'ack_up_to_seq', { optional: true, min: 0 });
      const g = requireGroup(groupId);
      const m = requireMember(g, conn.aid);
      if (ackUpTo !== undefined) advanceMessageCursor.run(groupId, conn.aid, conn.deviceId, Math.min(ackUpTo, g.message_seq));
      const cursor = messageCursor(g, m, conn);
      const from = Math.max(afterSeq ?? cursor.current_seq, m.join_seq);
      const rows = pullMessages.all(groupId, from, conn.aid, conn.deviceId, limit + 1) as MessageRecord[];
      return {
        group_id: groupId,
        messages: rows.slice(0, limit).map((r) => groupRow(groupId, r)),
        has_more: rows.length > limit,
        cursor,
        retention_floor_message_seq: 0,
      };
    },

    'group.v2.ack'(params, conn) {
      const groupId = readGroupId(params, conn);
      const cursor = ackMessages(groupId, int(params, 'up_to_seq', { min: 0 }), conn);
      return { group_id: groupId, cursor, ack_seq: cursor.current_seq };
    },

    // The raw ack the browser SDK sends after plaintext pushes (groups-and-more §1.5): same cursor.
    'group.ack_messages'(params, conn) {
      const groupId = readGroupId(params, conn);
      return { cursor: ackMessages(groupId, int(params, 'msg_seq', { min: 0 }), conn).current_seq };
    },

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
        events: rows.slice(0, limit).map((r) => JSON.parse(r.body) as GroupEvent),
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

  const core: GroupCore = {
    ctx, db, issuer, normalizeGroupId, readGroupId: (p, c) => readGroupId(p, c), requireGroup, requireActive, memberOf, requireMember,
    requireManager, members, info, memberView, relayedSignature, pushToMembers, emit, addMember, storeMessage,
  };
  for (const part of [groupRoleHandlers, groupInviteHandlers, groupSettingsHandlers, groupRecallHandlers, thoughtHandlers]) Object.assign(handlers, part(core));

  return {
    handlers,
    onNotification: createNotify(core),
    onLongConnected(conn) {
      // The login-time unread hint (spec §6.7, §8.4): one per group with rows this device has not acked.
      for (const { group_id: groupId } of groupsOf.all(conn.aid) as { group_id: string }[]) {
        const g = requireGroup(groupId);
        const m = memberOf(groupId, conn.aid);
        if (!m) continue;
        const cursor = messageCursor(g, m, conn);
        if (cursor.unread_count === 0) continue;
        ctx.push([conn], 'group.v2.message_created', {
          kind: 'group.online_unread_hint', group_id: groupId, seq: g.message_seq, message_id: '', sender_aid: '',
          member_aids: members(groupId).map((x) => x.aid),
        });
      }
    },
  };
}
