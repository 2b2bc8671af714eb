// The typed method map: one declaration per method of its params and result (spec/protocol.md
// §3–§9). Clients infer call types from it; the gateway's handler table is keyed by it; the
// runtime registry below carries each method's flags. Nobody writes a method name anywhere else
// without the compiler checking it against this map.

import type { JsonObject } from './frames.ts';
import type * as X from './methods-extra.ts';
import type { ClientSignature, GroupInfo, GroupMember, GroupRef, Signed } from './wire-common.ts';

// ---- auth (short RPC unless noted) ----

export interface CreateAidParams { aid: string; public_key: string; curve?: string }
export interface CreateAidResult { aid: string; cert: string; ca_cert: string; curve: string }

export interface Login1Params { aid: string; cert?: string; client_nonce: string }
export interface Login1Result {
  request_id: string;
  nonce: string;
  server_time: number;
  client_nonce_signature: string;
  auth_cert: string;
  auth_curve: string;
}

export interface Login2Params {
  aid: string;
  request_id: string;
  nonce: string;
  client_time: string | number;
  signature: string;
  cert?: string;
}
export interface TokenGrant {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  new_cert?: string;
  active_cert?: string;
}
export interface Login2Result extends TokenGrant { status: 'ok'; aid: string; token: string }

export interface RefreshTokenParams {
  refresh_token: string;
  aid?: string;
  access_token?: string;
  access_token_expires_at?: number;
  sdk_lang?: string;
  sdk_version?: string;
  device_id?: string;
  slot_id?: string;
}
export type RefreshTokenResult =
  | (TokenGrant & { success: true; aid: string; refresh_count: number; relogin_required: false; retryable: false })
  | { success: false; error: string; relogin_required: boolean; retryable: boolean; diagnostic?: JsonObject };

/**
 * `auth.renew_cert` (short RPC, spec protocol §4.3): a new certificate for the AID's current key.
 * `nonce` and `request_id` come from a fresh `auth.aid_login1` (one use); `signature` is DER
 * ECDSA-SHA256 by the AID's key over the UTF-8 `nonce`.
 */
export interface RenewCertParams { aid: string; request_id: string; nonce: string; signature: string; old_cert?: string }
/**
 * `auth.rekey` (short RPC): a certificate for `new_public_key` (SPKI DER, base64); `signature` is
 * by the current key over the UTF-8 `nonce + new_public_key` (plain concatenation). The current
 * certificate is revoked.
 */
export interface RekeyParams { aid: string; request_id: string; nonce: string; new_public_key: string; signature: string; old_cert?: string }
/** Both answer the new certificate; SDKs read `cert` or `cert_pem`. */
export interface CertIssuedResult { aid: string; cert: string; cert_pem: string; ca_cert: string; curve: string; cert_sn: string }

export interface DeliveryMode { mode: 'fanout' | 'queue'; routing?: string; affinity_ttl_ms?: number }

export interface ConnectParams {
  nonce: string;
  auth: { method: 'kite_token' | string; token?: string };
  protocol?: { min: string; max: string };
  device?: { id: string; type?: string };
  client?: { slot_id?: string; sdk_lang?: string; sdk_version?: string };
  delivery_mode?: DeliveryMode;
  capabilities?: Record<string, unknown>;
  options?: { kind?: 'long' | 'short'; short_ttl_ms?: number };
  extra_info?: Record<string, unknown>;
  /** Offline push (spec push.md §2): the push agent's AID; only together with push_token. */
  push_notify_aid?: string;
  /** Opaque token issued by that push agent (not the Stream sub-protocol's push_token). */
  push_token?: string;
}
export interface ConnectResult {
  status: 'ok';
  protocol: string;
  server_time: number;
  authenticated: true;
  identity: { aid: string; role: string; module_id?: string };
  connection: { id: string; device_id: string; slot_id: string; kind: 'long' | 'short' };
  heartbeat_interval: number;
  capabilities?: Record<string, unknown>;
}

// ---- meta ----

export interface PingResult { pong: true; timestamp: number; heartbeat_interval?: number }
export interface StatusResult {
  mode: 'gateway';
  aid: string;
  role: string;
  connected_at: number;
  protocol_version: string;
  device_id: string;
  slot_id: string;
}

// ---- message ----

export interface MessageSendParams extends Signed {
  to: string;
  payload: JsonObject;
  message_id?: string;
  timestamp?: number;
  type?: string;
  encrypted?: boolean;
  protected_headers?: Record<string, string>;
}
export interface MessageSendResult {
  message_id: string;
  seq: number;
  timestamp: number;
  status: 'sent' | 'delivered' | 'duplicate';
  delivery_mode: 'fanout';
}

/** One row of a device inbox as `message.v2.pull` returns it (spec §6.2). */
export interface InboxRow {
  seq: number;
  version: 'v1' | 'v2';
  message_id: string;
  from_aid: string;
  to: string;
  t_server: number;
  device_id: string;
  slot_id: string;
  direction: 'inbound' | 'outbound_sync';
  spk_id?: string;
  envelope_json?: string;
  legacy_v1?: { to: string; payload: JsonObject };
}

export interface V2PullParams extends Signed { after_seq?: number; limit?: number; ack_up_to_seq?: number; force?: boolean }
export interface V2PullResult { messages: InboxRow[]; has_more: boolean; server_ack_seq: number; latest_seq: number }

export interface V2AckParams extends Signed { up_to_seq: number }
export interface AckResult { success: true; ack_seq: number }

export interface SpkFields {
  key_source: 'peer_device_prekey' | 'group_device_prekey';
  spk_id: string;
  spk_pk: string;
  spk_signature: string;
  spk_timestamp: number;
}
export interface PutPeerPkParams extends Signed, SpkFields { peer_aid?: string }
export interface OkResult { ok: true }

export interface WrapCapabilities {
  version?: string;
  protocols?: string[];
  scopes?: string[];
  per_aid_wrap?: boolean;
  per_device_wrap?: boolean;
}
export interface DeviceKeys extends Partial<SpkFields> {
  aid: string;
  device_id: string;
  ik_pk: string;
  ik_fp: string;
}
export interface CertBundle { cert_pem: string; cert_fingerprint: string; ca_chain: string[] }
export interface V2BootstrapParams extends Signed { peer_aid: string; e2ee_wrap_capabilities?: WrapCapabilities }
export interface V2BootstrapResult {
  peer_devices: DeviceKeys[];
  self_devices: DeviceKeys[];
  audit_recipients: DeviceKeys[];
  certs: Record<string, CertBundle>;
}

export interface QueryOnlineParams { aids: string[] }
export interface QueryOnlineResult { online: Record<string, boolean> }

// ---- group ----

export interface GroupCursor { current_seq: number; join_seq: number; latest_seq: number; unread_count: number }

export interface GroupCreateParams {
  name?: string;
  group_id?: string;
  group_aid?: string;
  visibility?: string;
  join_mode?: string;
  description?: string;
  device_id?: string;
  slot_id?: string;
  /** Named group `{group_name}.{issuer}` (with public_key), spec groups-and-more §3.3. */
  group_name?: string;
  /** base64 SPKI DER of the group's own P-256 key. */
  public_key?: string;
  curve?: string;
}
/** The certificate of a named group's own key (CN = group_aid). */
export interface GroupAidCert { cert: string; ca_cert: string; ca_chain: string[]; cert_sn: string; curve: string }
export interface GroupCreateResult { group: GroupInfo & { group_url?: string }; aid_cert?: GroupAidCert }

export interface GroupAddMemberParams extends GroupRef, Signed { aid: string; role?: 'member' | 'admin'; member_type?: string }
export interface GroupAddMemberResult { group: GroupInfo; member: GroupMember }
export interface GroupRemoveMemberParams extends GroupRef, Signed { aid: string }
export interface GroupRemoveMemberResult { group: GroupInfo; removed_aid: string }
export interface GroupLeaveParams extends GroupRef, Signed {}
export interface GroupLeaveResult { group: GroupInfo; left_aid: string }

export interface GroupGetMembersParams extends GroupRef { page?: number; size?: number; role?: string }
export interface GroupGetMembersResult {
  group_id: string;
  members: (GroupMember & { last_ack_seq: number })[];
  total: number;
  count: number;
  page: number;
  size: number;
}
export interface GroupOnlineMembersResult { group_id: string; members: (GroupMember & { online: true })[]; online_count: number }
export interface GroupListMyParams { size?: number; page?: number }
export interface GroupListMyResult { items: (GroupInfo & { role: GroupMember['role'] })[]; total: number; page: number; size: number; aid: string }
export interface GroupGetInfoParams extends GroupRef { required?: string[] }
/**
 * Flat (spec groups-and-more §3.4): the public fields for everyone who may see the group; the
 * member-only fields with `required:["member"]` (and always for members).
 */
export interface GroupGetInfoResult {
  found: true;
  group_id: string;
  group_aid: string;
  name: string;
  visibility: string;
  status: GroupInfo['status'];
  description: string;
  member_count: number;
  created_at: number;
  owner_aid?: string;
  creator_aid?: string;
  join_mode?: string;
  message_seq?: number;
  event_seq?: number;
  e2ee_epoch?: number;
  updated_at?: number;
  my_role?: GroupMember['role'];
  members?: GroupMember[];
}

export interface PutGroupPkParams extends GroupRef, Signed, SpkFields {}
export interface GroupBootstrapParams extends GroupRef, Signed { e2ee_wrap_capabilities?: WrapCapabilities }
export interface GroupBootstrapResult {
  devices: DeviceKeys[];
  audit_recipients: DeviceKeys[];
  epoch: number;
  member_aids: string[];
  committed_member_aids: string[];
  pending_adds: string[];
  pending_removes: string[];
  state_version: number;
  state_hash: string;
  state_chain: string;
  e2ee_security_level: 'end_to_end';
  certs: Record<string, CertBundle>;
}

export interface GroupV2SendParams extends GroupRef, Signed { envelope: JsonObject }
export interface GroupV2SendResult { group_id: string; seq: number; message_id: string; t_server: number; status: 'sent' | 'duplicate' }

export interface GroupSendParams extends GroupRef, Signed { payload: JsonObject; type?: string; message_id?: string }
export interface GroupMessage {
  group_id: string;
  seq: number;
  message_id: string;
  sender_aid: string;
  message_type: string;
  dispatch_mode: 'broadcast';
  payload: JsonObject;
  created_at: number;
}
export interface GroupSendResult { group_id: string; message: GroupMessage; dispatch_mode: 'broadcast'; status: 'sent' | 'duplicate' }

/** One row of a group's history as `group.v2.pull` returns it (spec §8.4). */
export interface GroupRow {
  seq: number;
  version: 'v1' | 'v2';
  message_id: string;
  from_aid: string;
  group_id: string;
  t_server: number;
  envelope_json?: string;
  type?: string;
  payload?: JsonObject;
}
export interface GroupV2PullParams extends GroupRef, Signed { after_seq?: number; limit?: number; ack_up_to_seq?: number }
export interface GroupV2PullResult { group_id: string; messages: GroupRow[]; has_more: boolean; cursor: GroupCursor; retention_floor_message_seq: number }
export interface GroupV2AckParams extends GroupRef, Signed { up_to_seq: number }
export interface GroupAckResult { group_id: string; cursor: GroupCursor; ack_seq: number }

export interface GroupEvent {
  module_id: 'group';
  action: string;
  group_id: string;
  event_seq: number;
  actor_aid: string;
  member_aid?: string;
  created_at: number;
  event_type: 'group.changed';
  /** role_changed */
  old_role?: GroupMember['role'];
  new_role?: GroupMember['role'];
  /** owner_transferred */
  old_owner?: string;
  new_owner?: string;
  /** suspended / resumed / dissolved */
  status?: GroupInfo['status'];
  /** invite_code_created / invite_code_used / invite_code_revoked */
  code?: string;
  /** settings writes: the keys written */
  keys?: string[];
  /** group.message_recalled audit rows */
  message_ids?: string[];
  /** member_banned: why, and when the ban ends (ms; 0 = for good) */
  reason?: string;
  expires_at?: number;
  client_signature?: ClientSignature;
}
export interface GroupPullEventsParams extends GroupRef { after_event_seq?: number; limit?: number }
export interface GroupPullEventsResult { group_id: string; events: GroupEvent[]; latest_event_seq: number; has_more: boolean; cursor: GroupCursor }
export interface GroupAckEventsParams extends GroupRef { event_seq: number }
export interface GroupAckEventsResult { group_id: string; cursor: GroupCursor }

export interface GroupStateResult { state_version: number; state_hash: string; key_epoch: number; membership_snapshot: string }
export interface GroupProposalResult { proposal: null }
export interface GroupProposeResult { proposal_id: string; accepted: false }

// ---- offline push (spec push.md §6) ----

export interface PushAckParams { batch_id: string }
export interface PushAckResult { success: true }
/** Both set: store this config; both absent or null: forget the AID's config. */
export interface PushUpdateConfigParams { push_notify_aid?: string | null; push_token?: string | null }
/** `stored` false: nothing stored (config cleared, or the agent is not allowed for this AID). */
export interface PushUpdateConfigResult { success: true; stored: boolean }

/** name → { params, result } for every method the dev gateway answers. */
export interface MethodMap {
  'auth.create_aid': { params: CreateAidParams; result: CreateAidResult };
  'auth.aid_login1': { params: Login1Params; result: Login1Result };
  'auth.aid_login2': { params: Login2Params; result: Login2Result };
  'auth.refresh_token': { params: RefreshTokenParams; result: RefreshTokenResult };
  'auth.renew_cert': { params: RenewCertParams; result: CertIssuedResult };
  'auth.rekey': { params: RekeyParams; result: CertIssuedResult };
  'auth.connect': { params: ConnectParams; result: ConnectResult };
  /** Sent by the reference SDK's close(), undocumented (reference-sdk §close); see gateway/README.md. */
  'auth.logout': { params: Record<string, unknown>; result: { success: true } };
  'meta.ping': { params: Record<string, never>; result: PingResult };
  'meta.status': { params: Record<string, never>; result: StatusResult };
  'message.send': { params: MessageSendParams; result: MessageSendResult };
  'message.v2.pull': { params: V2PullParams; result: V2PullResult };
  'message.v2.ack': { params: V2AckParams; result: AckResult };
  'message.v2.put_peer_pk': { params: PutPeerPkParams; result: OkResult };
  'message.v2.bootstrap': { params: V2BootstrapParams; result: V2BootstrapResult };
  'message.query_online': { params: QueryOnlineParams; result: QueryOnlineResult };
  'group.create': { params: GroupCreateParams; result: GroupCreateResult };
  'group.add_member': { params: GroupAddMemberParams; result: GroupAddMemberResult };
  'group.kick': { params: GroupRemoveMemberParams; result: GroupRemoveMemberResult };
  'group.remove_member': { params: GroupRemoveMemberParams; result: GroupRemoveMemberResult };
  'group.leave': { params: GroupLeaveParams; result: GroupLeaveResult };
  'group.get_members': { params: GroupGetMembersParams; result: GroupGetMembersResult };
  'group.get_online_members': { params: GroupRef; result: GroupOnlineMembersResult };
  'group.list_my': { params: GroupListMyParams; result: GroupListMyResult };
  'group.get_info': { params: GroupGetInfoParams; result: GroupGetInfoResult };
  'group.v2.put_group_pk': { params: PutGroupPkParams; result: OkResult };
  'group.v2.bootstrap': { params: GroupBootstrapParams; result: GroupBootstrapResult };
  'group.v2.send': { params: GroupV2SendParams; result: GroupV2SendResult };
  'group.send': { params: GroupSendParams; result: GroupSendResult };
  'group.v2.pull': { params: GroupV2PullParams; result: GroupV2PullResult };
  'group.v2.ack': { params: GroupV2AckParams; result: GroupAckResult };
  'group.pull_events': { params: GroupPullEventsParams; result: GroupPullEventsResult };
  'group.ack_events': { params: GroupAckEventsParams; result: GroupAckEventsResult };
  'group.get_state': { params: GroupRef; result: GroupStateResult };
  'group.v2.get_proposal': { params: GroupRef & Signed; result: GroupProposalResult };
  'group.v2.propose_state': { params: GroupRef & Signed & Record<string, unknown>; result: GroupProposeResult };
  'group.v2.confirm_state': { params: { proposal_id: string } & Signed; result: OkResult };
  'push.ack': { params: PushAckParams; result: PushAckResult };
  'push.update_config': { params: PushUpdateConfigParams; result: PushUpdateConfigResult };
  'message.ack': { params: X.LegacyAckParams; result: AckResult };
  'message.pull': { params: X.LegacyPullParams; result: X.LegacyPullResult };
  'message.recall': { params: X.MessageRecallParams; result: X.MessageRecallResult };
  'message.thought.put': { params: X.MessageThoughtPutParams; result: X.MessageThoughtPutResult };
  'message.thought.get': { params: X.MessageThoughtGetParams; result: X.MessageThoughtGetResult };
  'group.ack_messages': { params: X.GroupAckMessagesParams; result: X.GroupAckMessagesResult };
  'group.ack': { params: X.GroupLegacyAckParams; result: X.GroupLegacyAckResult };
  'group.pull': { params: X.GroupPullParams; result: GroupV2PullResult };
  'group.recall': { params: X.GroupRecallParams; result: X.GroupRecallResult };
  'group.set_role': { params: X.SetRoleParams; result: X.SetRoleResult };
  'group.transfer_owner': { params: X.TransferOwnerParams; result: X.TransferOwnerResult };
  'group.complete_transfer': { params: X.CompleteTransferParams; result: X.CompleteTransferResult };
  'group.bind_group_aid': { params: X.BindGroupAidParams; result: X.BindGroupAidResult };
  'group.renew_group_aid': { params: X.RenewGroupAidParams; result: X.RenewGroupAidResult };
  'group.dissolve': { params: GroupRef & Signed; result: X.DissolveResult };
  'group.suspend': { params: GroupRef & Signed; result: X.SuspendResult };
  'group.resume': { params: GroupRef & Signed; result: X.SuspendResult };
  'group.create_invite_code': { params: X.CreateInviteCodeParams; result: X.CreateInviteCodeResult };
  'group.use_invite_code': { params: X.UseInviteCodeParams; result: X.UseInviteCodeResult };
  'group.list_invite_codes': { params: GroupRef & { status?: string }; result: X.ListInviteCodesResult };
  'group.revoke_invite_code': { params: X.RevokeInviteCodeParams; result: X.RevokeInviteCodeResult };
  'group.request_join': { params: X.RequestJoinParams; result: X.RequestJoinResult };
  'group.list_join_requests': { params: X.ListJoinRequestsParams; result: X.ListJoinRequestsResult };
  'group.review_join_request': { params: X.ReviewJoinRequestParams; result: X.ReviewJoinRequestResult };
  'group.batch_review_join_request': { params: X.BatchReviewJoinRequestParams; result: X.BatchReviewJoinRequestResult };
  'group.update': { params: X.GroupUpdateParams; result: X.GroupUpdateResult };
  'group.list': { params: GroupListMyParams; result: GroupListMyResult };
  'group.get_admins': { params: GroupRef; result: X.GroupAdminsResult };
  'group.get_master': { params: GroupRef; result: X.GroupMasterResult };
  'group.get_summary': { params: GroupRef; result: X.GroupSummaryResult };
  'group.refresh_member_types': { params: GroupRef; result: X.MemberTypesResult };
  'group.list_devices': { params: GroupRef; result: X.GroupDevicesResult };
  'group.unregister_device': { params: X.UnregisterDeviceParams; result: X.UnregisterDeviceResult };
  'group.ban': { params: X.BanParams; result: X.BanResult };
  'group.unban': { params: X.UnbanParams; result: X.UnbanResult };
  'group.get_banlist': { params: X.BanListParams; result: X.BanListResult };
  'group.set_settings': { params: X.SetSettingsParams; result: X.SetSettingsResult };
  'group.get_settings': { params: X.GetSettingsParams; result: X.GetSettingsResult };
  'group.search': { params: X.GroupSearchParams; result: X.GroupSearchResult };
  'group.thought.put': { params: X.GroupThoughtPutParams; result: X.GroupThoughtPutResult };
  'group.thought.get': { params: X.GroupThoughtGetParams; result: X.GroupThoughtGetResult };
}

export type MethodName = keyof MethodMap;
export type ParamsOf<M extends MethodName> = MethodMap[M]['params'];
export type ResultOf<M extends MethodName> = MethodMap[M]['result'];

export interface MethodFlags {
  /** Carries a client_signature (spec §10.2). */
  signed: boolean;
  /** Travels on a short pre-auth socket (spec §0.2). */
  preAuth: boolean;
  /** A tab may never call it directly (spec §10.1). */
  internal: boolean;
}

const plain: MethodFlags = { signed: false, preAuth: false, internal: false };
const signed: MethodFlags = { signed: true, preAuth: false, internal: false };
const preAuthInternal: MethodFlags = { signed: false, preAuth: true, internal: true };

/** The runtime registry: every method of the map, once, with its flags. */
export const METHODS: { readonly [M in MethodName]: MethodFlags } = {
  'auth.create_aid': { signed: false, preAuth: true, internal: false },
  'auth.aid_login1': preAuthInternal,
  'auth.aid_login2': preAuthInternal,
  'auth.refresh_token': preAuthInternal,
  'auth.renew_cert': preAuthInternal,
  'auth.rekey': preAuthInternal,
  'auth.connect': { signed: false, preAuth: false, internal: true },
  'auth.logout': { signed: false, preAuth: false, internal: true },
  'meta.ping': plain,
  'meta.status': plain,
  'message.send': signed,
  'message.v2.pull': signed,
  'message.v2.ack': signed,
  'message.v2.put_peer_pk': signed,
  'message.v2.bootstrap': signed,
  'message.query_online': plain,
  'group.create': plain,
  'group.add_member': signed,
  'group.kick': signed,
  'group.remove_member': signed,
  'group.leave': signed,
  'group.get_members': plain,
  'group.get_online_members': plain,
  'group.list_my': plain,
  'group.get_info': plain,
  'group.v2.put_group_pk': signed,
  'group.v2.bootstrap': signed,
  'group.v2.send': signed,
  'group.send': signed,
  'group.v2.pull': signed,
  'group.v2.ack': signed,
  'group.pull_events': plain,
  'group.ack_events': plain,
  'group.get_state': plain,
  'group.v2.get_proposal': signed,
  'group.v2.propose_state': signed,
  'group.v2.confirm_state': signed,
  'push.ack': plain,
  'push.update_config': plain,
  // Signing as the 0.5.4 browser SDK does it (groups-and-more §8).
  'message.ack': plain,
  'message.pull': plain,
  'message.recall': plain,
  'message.thought.put': signed,
  'message.thought.get': plain,
  'group.ack_messages': plain,
  'group.ack': plain,
  'group.pull': plain,
  'group.recall': plain,
  'group.set_role': signed,
  'group.transfer_owner': signed,
  'group.complete_transfer': signed,
  'group.bind_group_aid': signed,
  'group.renew_group_aid': signed,
  'group.dissolve': signed,
  'group.suspend': signed,
  'group.resume': signed,
  'group.create_invite_code': plain,
  'group.use_invite_code': signed,
  'group.list_invite_codes': plain,
  'group.revoke_invite_code': plain,
  'group.request_join': signed,
  'group.list_join_requests': plain,
  'group.review_join_request': signed,
  'group.batch_review_join_request': signed,
  'group.update': signed,
  'group.list': plain,
  'group.get_admins': plain,
  'group.get_master': plain,
  'group.get_summary': plain,
  'group.refresh_member_types': plain,
  'group.list_devices': plain,
  'group.unregister_device': plain,
  'group.ban': signed,
  'group.unban': signed,
  'group.get_banlist': plain,
  'group.set_settings': signed,
  'group.get_settings': plain,
  'group.search': plain,
  'group.thought.put': signed,
  'group.thought.get': plain,
};

/** Internal-only names of spec §10.1, including aliases the gateway does not serve. */
export const INTERNAL_ONLY_METHODS: ReadonlySet<string> = new Set([
  ...(Object.keys(METHODS) as MethodName[]).filter((m) => METHODS[m].internal),
  'auth.login1',
  'auth.login2',
  'initialize',
]);

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, name);
}
