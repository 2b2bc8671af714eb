// The public entry `aun-worker/protocol`: what a library author needs to speak about AUN without
// the client — the wire frames, the method map with the types of every method, the event map, the
// types of the tab API, the errors and their codes, the AID rules, the default deadline and the
// envelope types. An explicit list: the tab↔owner handshake (attach, hand-over, the owner's
// facade, session claims), the pre-auth frame helpers and the byte, canonical-JSON and recipient
// helpers stay internal; code inside the package imports the specific protocol file instead.

export {
  EVENT_PREFIX, MAX_FRAME_BYTES, classifyServerFrame, isErrorFrame,
  type ChallengeParams, type ErrorFrame, type IncomingFrame, type JsonObject, type JsonPrimitive, type JsonValue, type NotificationFrame,
  type RequestFrame, type ResponseFrame, type RpcErrorBody, type RpcId, type SuccessFrame,
} from './frames.ts';
export {
  AunError, AuthError, CertificateRevokedError, ClientSignatureError, CloseCode, ConnectionLostError, ERROR_CLASSES,
  ErrorCode, GroupError, GroupNotFoundError, GroupStateError, IdentityConflictError, NO_RECONNECT_CLOSE_CODES,
  NotFoundError, PermissionError, RateLimitError, SessionError, TimeoutError, UpdateRequiredError,
  V2_RETRYABLE_SEND_CODES, V2StaleKeysError, ValidationError, VersionConflictError,
  errorFromRpc, errorFromWire, errorToWire,
  type ErrorCodeName, type WireError,
} from './errors.ts';
export {
  INTERNAL_ONLY_METHODS, METHODS, isMethodName,
  type AckResult, type CertBundle, type ConnectParams, type ConnectResult, type CreateAidParams,
  type CreateAidResult, type DeliveryMode, type DeviceKeys,
  type GroupAckEventsParams, type GroupAidCert, type GroupAckEventsResult, type GroupAckResult, type GroupAddMemberParams,
  type GroupAddMemberResult, type GroupBootstrapParams, type GroupBootstrapResult, type GroupCreateParams,
  type GroupCreateResult, type GroupCursor, type GroupEvent, type GroupGetInfoParams, type GroupGetInfoResult,
  type GroupGetMembersParams, type GroupGetMembersResult, type GroupLeaveParams, type GroupLeaveResult,
  type GroupListMyParams, type GroupListMyResult, type GroupMessage, type GroupOnlineMembersResult,
  type GroupProposalResult, type GroupProposeResult, type GroupPullEventsParams, type GroupPullEventsResult,
  type GroupRemoveMemberParams, type GroupRemoveMemberResult, type GroupRow, type GroupSendParams,
  type GroupSendResult, type GroupStateResult, type GroupV2AckParams, type GroupV2PullParams, type GroupV2PullResult,
  type GroupV2SendParams, type GroupV2SendResult, type InboxRow, type MessageSendParams, type MessageSendResult,
  type Login1Params, type Login1Result, type Login2Params, type Login2Result,
  type MethodFlags, type MethodMap, type MethodName, type OkResult, type ParamsOf, type PingResult,
  type PushAckParams, type PushAckResult, type PushUpdateConfigParams, type PushUpdateConfigResult,
  type PutGroupPkParams, type PutPeerPkParams, type QueryOnlineParams, type QueryOnlineResult, type RefreshTokenParams, type RenewCertParams, type RekeyParams, type CertIssuedResult,
  type RefreshTokenResult, type ResultOf, type TokenGrant,
  type SpkFields, type StatusResult, type V2AckParams, type V2BootstrapParams, type V2BootstrapResult,
  type V2PullParams, type V2PullResult, type WrapCapabilities,
} from './methods.ts';
export type { ClientSignature, GroupInfo, GroupMember, GroupRef, Signed } from './wire-common.ts';
export type {
  GroupLegacyAckParams, GroupLegacyAckResult, GroupPullParams, GroupUpdateParams, GroupUpdateResult, GroupAdminsResult, GroupMasterResult, GroupSummaryResult, MemberTypesResult,
  GroupDevicesResult, UnregisterDeviceParams, UnregisterDeviceResult, BanEntry, BanListParams, BanListResult, BanParams, BanResult, UnbanParams, UnbanResult,
  BatchReviewJoinRequestParams, BatchReviewJoinRequestResult, JoinRequest, ListJoinRequestsParams, ListJoinRequestsResult,
  RequestJoinParams, RequestJoinResult, ReviewJoinRequestParams, ReviewJoinRequestResult,
  CreateInviteCodeParams, CreateInviteCodeResult, DissolveResult, GetSettingsParams, GetSettingsResult,
  GroupAckMessagesParams, GroupAckMessagesResult, GroupIndexMeta, GroupIndexValue, GroupMemberDetail,
  GroupRecallParams, GroupRecallResult, GroupSearchItem, GroupSearchParams, GroupSearchResult, GroupSetting,
  GroupThoughtGetParams, GroupThoughtGetResult, GroupThoughtPutParams, GroupThoughtPutResult, InviteCode,
  LegacyAckParams, LegacyPullParams, LegacyPullResult, LegacyRow, ListInviteCodesResult, MessageRecallParams,
  MessageRecallResult, MessageThoughtGetParams, MessageThoughtGetResult, MessageThoughtPutParams,
  MessageThoughtPutResult, RecallError, RevokeInviteCodeParams, RevokeInviteCodeResult, SetRoleParams,
  SetRoleResult, SetSettingsParams, SetSettingsResult, SuspendResult, ThoughtContext, ThoughtItem,
  TransferOwnerParams, TransferOwnerResult, TransferProof, CompleteTransferParams, CompleteTransferResult,
  BindGroupAidParams, BindGroupAidResult, BoundGroupAidCert, RenewGroupAidParams, RenewGroupAidResult, UseInviteCodeParams, UseInviteCodeResult,
} from './methods-extra.ts';
export type {
  EventMap, EventName, GatewayDisconnectEvent, GroupMessageCreatedEvent, GroupV2MessageCreatedEvent,
  GroupCreatedEvent, GroupMessageRecalledEvent, MessageRecalledEvent, MessageReceivedEvent, NotifyStamp,
  OfflinePushBatch, OfflinePushItem, OfflinePushPayload, OfflinePushSummary, PeerV2MessageReceivedEvent,
} from './events.ts';
export type {
  BuildInfo, CallOptions, Direction, GatewayOptions, GroupChange, GroupInboundMessage, GroupSent, GroupSummary,
  GroupMessageRecalled, IdentityInfo, InboundMessage, InspectorSnapshot, LogPage, LoggedEventName, MessageRecalled,
  NotifyEvent, NotifyTarget, QueuedSend, RecallOutcome, RecalledOriginal, Rung, SendFailed, SendOptions,
  SessionSnapshot, SessionStateName, TabEventMap, TabEventName, Thought, ThoughtPut, UndecryptableMessage,
} from './tab.ts';
export {
  AID_MAX_LENGTH, AID_NAME_MAX, AID_NAME_MIN, AID_NAME_PATTERN, AID_PATTERN, AID_RULES, aidProblem, isValidAid,
} from './aid.ts';
export { DEFAULT_DEADLINE_MS } from './deadline.ts';
export { GROUP_ENVELOPE_TYPE, P2P_ENVELOPE_TYPE } from './envelope.ts';
