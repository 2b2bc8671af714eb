// Params and results of the message and group methods beyond the basics (spec
// groups-and-more.md): legacy ack/pull, recall, roles, lifecycle, invite codes, settings with the
// signed group.index, search, thoughts. methods.ts lists them in the method map.

import type { JsonObject } from './frames.ts';
import type { GroupInfo, GroupMember, GroupRef, Signed } from './wire-common.ts';

// ---- legacy P2P ack / pull (§1.2, §1.3) ----

export interface LegacyAckParams { seq: number; device_id?: string; slot_id?: string }
export interface LegacyPullParams { after_seq?: number; limit?: number; device_id?: string; slot_id?: string }
/** A `message.pull` row (legacy shape); `encrypted` only when true. */
export interface LegacyRow {
  message_id: string;
  seq: number;
  from: string;
  to: string;
  timestamp: number;
  payload: JsonObject;
  delivery_mode: 'fanout';
  encrypted?: true;
}
export interface LegacyPullResult {
  messages: LegacyRow[];
  count: number;
  latest_seq: number;
  server_ack_seq: number;
  ephemeral_earliest_available_seq: number;
  ephemeral_dropped_count: number;
}
export interface GroupAckMessagesParams extends GroupRef { msg_seq: number }
export interface GroupAckMessagesResult { cursor: number }
/** `group.ack`, the older name: either shape of the documents. */
export interface GroupLegacyAckParams extends GroupRef { msg_seq?: number; seq?: number }
export interface GroupLegacyAckResult { cursor: number; group_id: string; aid: string; ack_seq: number; latest_message_seq: number }
/** The plain `group.pull` (§1.1): group.v2.pull's answer. */
export interface GroupPullParams extends GroupRef { after_message_seq?: number; after_seq?: number; limit?: number }

// ---- recall (§2) ----

export interface RecallError { message_id: string; error: 'not_found' | 'not_sender' | 'already_recalled' | 'expired' | 'group_inactive' }
export interface MessageRecallParams { message_ids: string[] }
export interface MessageRecallResult { success: boolean; accepted: number; recalled: number; errors: RecallError[] | null }
export interface GroupRecallParams extends GroupRef { message_ids: string[]; reason?: string }
export interface GroupRecallResult { success: boolean; accepted: string[]; recalled: string[]; errors: RecallError[] }

// ---- roles and lifecycle (§3.6–§3.9) ----

export interface GroupMemberDetail extends GroupMember { group_id: string; last_ack_seq: number; last_pull_at: number }
export interface SetRoleParams extends GroupRef, Signed { aid: string; role: 'admin' | 'member' }
export interface SetRoleResult {
  group: GroupInfo;
  member: GroupMemberDetail;
  old_role: GroupMember['role'];
  new_role: GroupMember['role'];
  acl_model: 'role_based';
  acl_policy: 'unchanged';
}
/** A transfer proof (§3.7): `nonce` 32 hex, `issued_ms`, `signature` base64 DER. */
export interface TransferProof { nonce: string; issued_ms: number; signature: string }
export interface TransferOwnerParams extends GroupRef, Signed { new_owner?: string; aid?: string; transfer_auth?: TransferProof }
/** With `transfer_auth` (a group that owns a group AID) nothing moves yet: `status` is `pending_rekey`. */
export interface TransferOwnerResult { group: GroupInfo; old_owner: string; new_owner: string; status?: 'pending_rekey' }
export interface CompleteTransferParams extends GroupRef, Signed { public_key: string; curve?: 'P-256'; transfer_accept: TransferProof }
export interface CompleteTransferResult {
  group: GroupInfo;
  old_owner: string;
  new_owner: string;
  aid_cert: { cert: string; ca_cert: string; ca_chain: string[]; cert_sn: string; curve: 'P-256' };
}
export interface DissolveResult { group_id: string; status: 'dissolved' }
export interface SuspendResult { group: GroupInfo; status: 'suspended' | 'active' | 'unchanged' }

// ---- invite codes (§3.10) ----

export interface InviteCode {
  group_id: string;
  code: string;
  code_with_domain: string;
  created_by: string;
  expires_at: number;
  max_uses: number;
  used_count: number;
  status: 'active' | 'expired' | 'revoked';
  created_at: number;
}
export interface CreateInviteCodeParams extends GroupRef { code?: string; max_uses?: number; expires_in_seconds?: number }
export interface CreateInviteCodeResult { group_id: string; invite_code: InviteCode }
export interface UseInviteCodeParams extends Signed { code: string }
export interface UseInviteCodeResult { status: 'joined'; group: GroupInfo; invite_code: InviteCode }
export interface ListInviteCodesResult { group_id: string; items: InviteCode[] }
export interface RevokeInviteCodeParams extends GroupRef { code: string }
export interface RevokeInviteCodeResult { group_id: string; code: string; status: 'revoked' }

// ---- join requests (§3.11) ----

export interface JoinRequest {
  group_id: string;
  aid: string;
  message: string;
  answer: string;
  status: 'pending' | 'approved' | 'rejected';
  created_at: number;
  updated_at: number;
  expires_at: number;
  reviewed_by: string | null;
  rejection_reason: string | null;
}
export interface RequestJoinParams extends GroupRef, Signed { message?: string; answer?: string }
export type RequestJoinResult =
  | { status: 'joined'; group: GroupInfo; member: GroupMember }
  | { status: 'question_required'; question: string }
  | { status: 'pending'; request: JoinRequest };
export interface ListJoinRequestsParams extends GroupRef { status?: JoinRequest['status']; page?: number; size?: number }
export interface ListJoinRequestsResult { group_id: string; items: JoinRequest[]; total: number; page: number; size: number }
export interface ReviewJoinRequestParams extends GroupRef, Signed { aid: string; approve?: boolean; reason?: string }
export type ReviewJoinRequestResult =
  | { status: 'approved'; request: JoinRequest; group: GroupInfo }
  | { status: 'rejected'; request: JoinRequest };
/** Both shapes the documents give: `requests` (SDK manual) or `aids` with one `approve` (protocol 10). */
export interface BatchReviewJoinRequestParams extends GroupRef, Signed {
  requests?: { aid: string; approve?: boolean; reason?: string }[];
  aids?: string[];
  approve?: boolean;
  reason?: string;
}
export interface BatchReviewJoinRequestResult {
  group_id: string;
  results: ({ aid: string; ok: true; status: 'approved' | 'rejected'; request: JoinRequest } | { aid: string; ok: false; error: string })[];
  success_count: number;
  fail_count: number;
}

// ---- group.update (§3.5) ----

export interface GroupUpdateParams extends GroupRef, Signed {
  name?: string;
  visibility?: 'public' | 'private';
  description?: string;
  metadata?: JsonObject;
  avatar_ref?: string;
}
export interface GroupUpdateResult { group: GroupInfo }

// ---- reads the SDK makes through call (§7) ----

export interface GroupAdminsResult { group_id: string; admins: GroupMember[] }
export interface GroupMasterResult { group_id: string; owner_aid: string }
export interface GroupSummaryResult {
  group_id: string;
  name: string;
  owner_aid: string;
  status: GroupInfo['status'];
  visibility: string;
  member_count: number;
  human_count: number;
  ai_count: number;
  /** The owner and the admins. */
  admin_count: number;
  online_count: number;
  message_seq: number;
  event_seq: number;
  e2ee_epoch: number;
  created_at: number;
  updated_at: number;
}
export interface MemberTypesResult {
  group_id: string;
  total: number;
  human_count: number;
  ai_count: number;
  members: { aid: string; role: GroupMember['role']; member_type: string }[];
}
/** The caller's own devices in the group, by their cursors (name and type are not known here). */
export interface GroupDevicesResult {
  group_id: string;
  devices: { device_id: string; device_name: string; device_type: string; last_pull_at: number; msg_unread: number; event_unread: number }[];
}
export interface UnregisterDeviceParams extends GroupRef { device_id: string }
export interface UnregisterDeviceResult { success: true; group_id: string; device_id: string }

// ---- a group's own AID (§3.15) ----

/** The group's certificate, as named groups get it at create, with `agentid` (the group's AID). */
export interface BoundGroupAidCert { cert: string; agentid: string; ca_cert: string; ca_chain: string[]; cert_sn: string; curve: string }
export interface BindGroupAidParams extends GroupRef, Signed { public_key: string; curve?: 'P-256' }
export interface BindGroupAidResult { group: GroupInfo; aid_cert: BoundGroupAidCert }
export interface RenewGroupAidParams extends GroupRef, Signed { old_public_key: string; new_public_key: string; curve?: 'P-256'; renew_proof: TransferProof }
export interface RenewGroupAidResult { group: GroupInfo; aid_cert: BoundGroupAidCert; old_cert_revoked: true }

// ---- bans (§3.12): both documented shapes ----

export interface BanEntry { group_id: string; subject: string; banned_by: string; reason: string; expires_at: number; created_at: number }
export interface BanParams extends GroupRef, Signed {
  subject?: string;
  aid?: string;
  reason?: string;
  /** ms; 0 = for good. */
  expires_at?: number;
  expires_in_seconds?: number;
  duration_seconds?: number;
}
export interface BanResult { group_id: string; banned_aid: string; ban: BanEntry }
export interface UnbanParams extends GroupRef, Signed { subject?: string; aid?: string }
export interface UnbanResult { group_id: string; subject: string; unbanned_aid: string; status: 'removed' }
export interface BanListParams extends GroupRef { page?: number; size?: number }
export interface BanListResult { group_id: string; items: BanEntry[]; total: number; page: number; size: number }

// ---- settings and the signed index (§3.13), search (§3.14) ----

/** The value of `settings["group.index"]`: readers use `body`; the SDK also sends meta and entries. */
export interface GroupIndexValue { body: string; meta?: JsonObject; entries?: JsonObject[] }
export interface SetSettingsParams extends GroupRef, Signed { settings: Record<string, unknown>; expected_index_etag?: string }
export interface SetSettingsResult { group_id: string; group_aid: string; updated_keys: string[] }
export interface GetSettingsParams extends GroupRef { keys?: string[] }
export interface GroupSetting { key: string; value: unknown; updated_at: number; updated_by?: string }
export interface GetSettingsResult { group_id: string; group_aid: string; settings: GroupSetting[] }
/** Frame-level `_meta` next to `result` (§3.13). */
export interface GroupIndexMeta { group_indexes: Record<string, { etag: string; last_modified: number; schema: string }> }
export interface GroupSearchParams { query?: string; q?: string; keyword?: string; size?: number; limit?: number }
export interface GroupSearchItem { group_id: string; group_aid: string; name: string; description: string; member_count: number; visibility: 'public' }
export interface GroupSearchResult { query: string; page: 1; size: number; items: GroupSearchItem[]; total: number; has_more: boolean }

// ---- thoughts (§5) ----

export interface ThoughtContext { type: string; id: string }
export interface MessageThoughtPutParams extends Signed {
  to: string;
  payload: JsonObject;
  encrypted?: boolean;
  thought_id?: string;
  timestamp?: number;
  context: ThoughtContext;
}
export interface MessageThoughtPutResult {
  sender_aid: string;
  peer_aid: string;
  to: string;
  context: ThoughtContext;
  thought_id: string;
  stored_count: number;
  updated_at: number;
}
export interface MessageThoughtGetParams { sender_aid: string; context: ThoughtContext; peer_aid?: string; to?: string }
export interface ThoughtItem {
  thought_id: string;
  message_id: string;
  context: ThoughtContext;
  from: string;
  to: string;
  payload: JsonObject;
  created_at: number;
}
export interface MessageThoughtGetResult {
  found: boolean;
  sender_aid: string;
  peer_aid: string;
  context: ThoughtContext;
  thoughts: ThoughtItem[];
  updated_at: number;
}
export interface GroupThoughtPutParams extends GroupRef, Signed {
  payload: JsonObject;
  encrypted?: boolean;
  thought_id?: string;
  timestamp?: number;
  context: ThoughtContext;
}
export interface GroupThoughtPutResult { group_id: string; sender_aid: string; context: ThoughtContext; thought_id: string; stored_count: number; updated_at: number }
export interface GroupThoughtGetParams extends GroupRef { sender_aid: string; context: ThoughtContext }
export interface GroupThoughtGetResult {
  found: boolean;
  group_id: string;
  sender_aid: string;
  context: ThoughtContext;
  thoughts: Omit<ThoughtItem, 'from' | 'to'>[];
  updated_at: number;
}
