// What the group service shares with the files that add methods to it (roles, invites, settings,
// recall): the records, the permission checks and the one way to record a `group.changed` event.
// group.ts builds it; the other files only read the tables through it or own tables of their own.

import type Database from 'better-sqlite3';
import type { EventMap, EventName } from '../../protocol/events.ts';
import type { ClientSignature, GroupEvent, GroupInfo, GroupMember } from '../../protocol/methods.ts';
import type { AuthedConnection, GatewayContext, HandlerTable } from '../context.ts';

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

export interface GroupCore {
  readonly ctx: GatewayContext;
  readonly db: Database.Database;
  readonly issuer: string;
  normalizeGroupId(raw: string): string;
  readGroupId(params: object, conn: AuthedConnection): string;
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
  /** Bumps event_seq, stores and pushes one `group.changed`; returns the group after the change. */
  emit(groupId: string, action: string, actor: string, opts?: EmitOptions): GroupRecord;
  /** Adds a member as `action` (member_added, invite_code_used, …) with its join points. */
  addMember(groupId: string, aid: string, role: Role, actor: string, action: string, signature?: ClientSignature, fields?: EventFields): GroupRecord;
  /** Appends a message row at the next seq (with its V2 wraps). */
  storeMessage(groupId: string, r: Omit<MessageRecord, 'seq'>, wraps: [string, string][]): MessageRecord;
}

/** A file of group methods: gets the core, returns its handlers. */
export type GroupPart = (core: GroupCore) => HandlerTable;
