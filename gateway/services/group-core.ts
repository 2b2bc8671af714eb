// What every part of the group service shares: the group tables (schema and migrations), the
// records (group, member, message), reading a group id from params, the permission checks, the one
// way to record a `group.changed` event and the one way to append a message row. group.ts builds it
// once; each part (membership, info, messages, events, keys, roles, invites, settings, recall,
// thoughts, notify) gets it and prepares its own statements on the tables it reads or writes.
//
// Membership changes bump both the group's event_seq and its epoch (so a V2 send built from a
// bootstrap taken before the change fails with -33052 and the SDK re-bootstraps).

import { createPublicKey } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ErrorCode } from '../../protocol/errors.ts';
import type { EventMap, EventName } from '../../protocol/events.ts';
import type { GroupEvent } from '../../protocol/methods.ts';
import type { ClientSignature, GroupInfo, GroupMember } from '../../protocol/wire-common.ts';
import { RpcError, type AuthedConnection, type GatewayContext, type HandlerTable } from '../context.ts';
import { migrate } from '../db.ts';
import { int, str } from '../validate.ts';

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
  // Bans (groups-and-more §3.12): kept here because sending and joining check them.
  `CREATE TABLE group_bans (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     aid TEXT NOT NULL,
     banned_by TEXT NOT NULL,
     reason TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (group_id, aid)
   )`,
];

/** Rows or events per page, and the default page size. */
export const PAGE_LIMIT = 50;
const MAX_GROUP_ID = 300;
const GROUP_ID = /^[a-z0-9][a-z0-9_-]{0,63}\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;

export type Role = GroupMember['role'];

export interface GroupRecord {
  group_id: string;
  name: string;
  owner_aid: string;
  creator_aid: string;
  visibility: string;
  join_mode: string;
  description: string;
  message_seq: number;
  event_seq: number;
  epoch: number;
  created_at: number;
  status: GroupInfo['status'];
  updated_at: number;
}

export interface MemberRecord {
  aid: string;
  role: Role;
  member_type: string;
  joined_at: number;
  join_seq: number;
  join_event_seq: number;
}

export interface MessageRecord {
  seq: number;
  message_id: string;
  sender_aid: string;
  version: 'v1' | 'v2';
  msg_type: string;
  body: string;
  t_server: number;
}

/** Event fields beyond the common ones (action, group, seq, actor, time). */
export type EventFields = Omit<Partial<GroupEvent>, 'module_id' | 'action' | 'group_id' | 'event_seq' | 'actor_aid' | 'created_at' | 'event_type'>;

export interface EmitOptions {
  fields?: EventFields;
  signature?: ClientSignature;
  /** Membership changes also bump the E2EE epoch. */
  epoch?: boolean;
  /** Runs in the same transaction, after the bump, before the event is stored. */
  mutate?: (g: GroupRecord) => void;
  /** Told besides the members after the change (a removed member, the members before a dissolve). */
  alsoTell?: readonly string[];
}

export interface AddMemberOptions {
  signature?: ClientSignature;
  fields?: EventFields;
  /** `human` or `ai` (the default). */
  memberType?: string;
}

export interface GroupCore {
  readonly ctx: GatewayContext;
  readonly db: Database.Database;
  readonly issuer: string;
  normalizeGroupId(raw: string): string;
  /** The group named by `group_id` / `group_aid` (either; both must agree), normalised. */
  readGroupId(params: object, conn: AuthedConnection, optional: true): string | undefined;
  readGroupId(params: object, conn: AuthedConnection, optional?: false): string;
  /** The stored record, dissolved or not; undefined when the id was never used. */
  groupRecord(groupId: string): GroupRecord | undefined;
  /** -33001 when missing or dissolved. */
  requireGroup(groupId: string): GroupRecord;
  /** -33003 while suspended. */
  requireActive(g: GroupRecord): void;
  memberOf(groupId: string, aid: string): MemberRecord | null;
  requireMember(g: GroupRecord, aid: string): MemberRecord;
  requireManager(g: GroupRecord, aid: string, what: string): MemberRecord;
  members(groupId: string): MemberRecord[];
  info(g: GroupRecord): GroupInfo;
  memberView(m: MemberRecord): GroupMember;
  relayedSignature(params: object, method: string): ClientSignature | undefined;
  pushToMembers<E extends EventName>(aids: Iterable<string>, event: E, params: EventMap[E], except?: AuthedConnection): void;
  /** What `viewer` (holding `role` in the group, if any) is shown of a stored `group.changed`. */
  eventFor(event: GroupEvent, viewer: string, role: Role | undefined): GroupEvent;
  /** Bumps event_seq, stores and pushes one `group.changed`; returns the group after the change. */
  emit(groupId: string, action: string, actor: string, opts?: EmitOptions): GroupRecord;
  /** Adds a member as `action` (member_added, invite_code_used, …) with its join points; -33009 for a banned AID. */
  addMember(groupId: string, aid: string, role: Role, actor: string, action: string, opts?: AddMemberOptions): GroupRecord;
  /** The ban on `aid` in the group, if one is in force (an expired one reads as none). */
  banOf(groupId: string, aid: string): GroupBan | null;
  /** -32004 while `aid` is banned from the group: it keeps its membership but may not send. */
  requireNotBanned(g: GroupRecord, aid: string): void;
  /** Appends a message row at the next seq (with its V2 wraps). */
  storeMessage(groupId: string, r: Omit<MessageRecord, 'seq'>, wraps: [string, string][]): MessageRecord;
}

/** A ban as stored; `expires_at` 0 is for good. */
export interface GroupBan { group_id: string; aid: string; banned_by: string; reason: string; expires_at: number; created_at: number }

/** Proofs by a group key or a member's key (§3.7, §3.15) are good this long either side of their `issued_ms`. */
const PROOF_SKEW_MS = 5 * 60_000;

/**
 * `{nonce, issued_ms, signature}` of a group-key proof (transfer_auth, transfer_accept,
 * renew_proof): 32 hex, a time within 5 minutes of `now`, a base64 signature; -32602 otherwise.
 */
export function readProof(v: unknown, field: string, now: number): { nonce: string; issuedMs: number; signature: Buffer } {
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null) as { nonce?: unknown; issued_ms?: unknown; signature?: unknown } | null;
  if (!o || typeof o.nonce !== 'string' || !/^[0-9a-f]{32}$/i.test(o.nonce) || typeof o.signature !== 'string' || o.signature.length > 512
    || typeof o.issued_ms !== 'number' || !Number.isSafeInteger(o.issued_ms)) {
    throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field} must be {nonce: 32 hex, issued_ms, signature}`);
  }
  if (Math.abs(now - o.issued_ms) > PROOF_SKEW_MS) throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field}.issued_ms is more than 5 minutes off`);
  return { nonce: o.nonce, issuedMs: o.issued_ms, signature: Buffer.from(o.signature, 'base64') };
}

/** The DER of a base64 P-256 SPKI (a group key); -32602 naming `field` otherwise. */
export function readGroupKey(b64: string, field: string): Buffer {
  try {
    const spki = Buffer.from(b64, 'base64');
    if (createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve === 'prime256v1') return spki;
  } catch {
    // below
  }
  throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field} must be the base64 SPKI DER of a P-256 key`);
}

/** A file of group methods: gets the core, returns its handlers. */
export type GroupPart = (core: GroupCore) => HandlerTable;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `limit` of a pull: 1–PAGE_LIMIT, and 0 or absent means PAGE_LIMIT. */
export function pageLimit(params: object): number {
  const limit = int(params, 'limit', { optional: true, min: 0 });
  return !limit ? PAGE_LIMIT : Math.min(limit, PAGE_LIMIT);
}

export function createGroupCore(ctx: GatewayContext): GroupCore {
  const db = ctx.db;
  const issuer = ctx.config.issuer;
  migrate(db, 'group', MIGRATIONS);

  const getGroup = db.prepare('SELECT * FROM group_info WHERE group_id = ?');
  const bumpEvent = db.prepare('UPDATE group_info SET event_seq = event_seq + 1, epoch = epoch + ?, updated_at = ? WHERE group_id = ?');
  const bumpMessage = db.prepare('UPDATE group_info SET message_seq = message_seq + 1 WHERE group_id = ?');
  const getMember = db.prepare('SELECT aid, role, member_type, joined_at, join_seq, join_event_seq FROM group_members WHERE group_id = ? AND aid = ?');
  const listMembers = db.prepare('SELECT aid, role, member_type, joined_at, join_seq, join_event_seq FROM group_members WHERE group_id = ? ORDER BY joined_at, aid');
  const countMembers = db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?');
  const insertMember = db.prepare('INSERT INTO group_members (group_id, aid, role, member_type, joined_at, join_seq, join_event_seq) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertEvent = db.prepare('INSERT INTO group_events (group_id, event_seq, body) VALUES (?, ?, ?)');
  const insertMessage = db.prepare('INSERT INTO group_messages (group_id, seq, message_id, sender_aid, version, msg_type, body, t_server) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const insertWrap = db.prepare('INSERT OR IGNORE INTO group_wraps (group_id, seq, aid, device_id) VALUES (?, ?, ?, ?)');

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

  function pushToMembers<E extends EventName>(aids: Iterable<string>, event: E, params: EventMap[E], except?: AuthedConnection): void {
    for (const aid of new Set(aids)) {
      const conns = ctx.longConnections(aid).filter((c) => c !== except);
      if (conns.length > 0) ctx.push(conns, event, params);
    }
  }

  // ---- changes and messages ----

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

  /** An invite code (the `code` of invite_code_*) is shown to the owner and admins, whom
   *  `group.list_invite_codes` shows it anyway, and to the AID that joined with it; to anyone else
   *  the event comes without it, else any member could learn every live code and pass it on. */
  function seesCode(event: GroupEvent, viewer: string, role: Role | undefined): boolean {
    return role === 'owner' || role === 'admin' || viewer === event.member_aid;
  }

  function withoutCode(event: GroupEvent): GroupEvent {
    const { code: _, ...rest } = event;
    return rest;
  }

  function eventFor(event: GroupEvent, viewer: string, role: Role | undefined): GroupEvent {
    return event.code === undefined || seesCode(event, viewer, role) ? event : withoutCode(event);
  }

  function emit(groupId: string, action: string, actor: string, opts: EmitOptions = {}): GroupRecord {
    const { event, group } = applyEvent(groupId, action, actor, opts);
    const current = members(groupId);
    const told = [...current.map((m) => m.aid), ...(opts.alsoTell ?? [])];
    if (event.code === undefined) {
      pushToMembers(told, 'group.changed', event);
    } else {
      const roles = new Map(current.map((m) => [m.aid, m.role]));
      const sees = (aid: string) => seesCode(event, aid, roles.get(aid));
      pushToMembers(told.filter(sees), 'group.changed', event);
      pushToMembers(told.filter((aid) => !sees(aid)), 'group.changed', withoutCode(event));
    }
    return group;
  }

  const getBan = db.prepare('SELECT * FROM group_bans WHERE group_id = ? AND aid = ?');

  function banOf(groupId: string, aid: string): GroupBan | null {
    const b = getBan.get(groupId, aid) as GroupBan | undefined;
    return b && (b.expires_at === 0 || b.expires_at > ctx.now()) ? b : null;
  }

  function requireNotBanned(g: GroupRecord, aid: string): void {
    if (banOf(g.group_id, aid)) throw new RpcError(ErrorCode.PermissionDenied, `permission denied: ${aid} is banned from ${g.group_id}`);
  }

  function addMember(groupId: string, aid: string, role: Role, actor: string, action: string, opts: AddMemberOptions = {}): GroupRecord {
    // A removed-then-banned AID cannot come back, by any way in (§3.12).
    if (banOf(groupId, aid)) throw new RpcError(ErrorCode.GroupJoinRejected, `join rejected: ${aid} is banned from ${groupId}`);
    return emit(groupId, action, actor, {
      epoch: true, signature: opts.signature, fields: { member_aid: aid, ...opts.fields },
      mutate: (g) => insertMember.run(groupId, aid, role, opts.memberType ?? 'ai', ctx.now(), g.message_seq, g.event_seq),
    });
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

  return {
    ctx, db, issuer, normalizeGroupId, readGroupId, groupRecord: (groupId) => getGroup.get(groupId) as GroupRecord | undefined,
    requireGroup, requireActive, memberOf, requireMember, requireManager, members, info, memberView, relayedSignature,
    pushToMembers, eventFor, emit, addMember, storeMessage, banOf, requireNotBanned,
  };
}
