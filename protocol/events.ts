// The typed event map: every server→client notification the dev gateway emits (spec §1.2, §13.4).
// Keys are the wire method names without the `event/` prefix.

import type { JsonObject } from './frames.ts';
import type { GroupEvent } from './methods.ts';
import type { ClientSignature } from './wire-common.ts';

export interface GatewayDisconnectEvent {
  code: number;
  reason: string;
  detail: {
    aid: string;
    device_id: string;
    slot_id: string;
    quota_kind: 'aid_device_slot';
    limit: 1;
    evicted_by: { device_id: string; extra_info?: Record<string, unknown> };
  };
}

export interface MessageReceivedEvent {
  message_id: string;
  from: string;
  to: string;
  seq: number;
  timestamp: number;
  payload: JsonObject;
  delivery_mode: 'fanout';
  encrypted: boolean;
  device_id: string;
  slot_id: string;
  direction: 'inbound' | 'outbound_sync';
  client_signature?: ClientSignature;
}

export interface PeerV2MessageReceivedEvent {
  seq: number;
  message_id: string;
  from_aid: string;
  device_id: string;
  spk_id?: string;
  envelope_json?: string;
}

export interface GroupV2MessageCreatedEvent {
  group_id: string;
  seq: number;
  message_id: string;
  sender_aid: string;
  member_aids: string[];
  kind?: 'group.online_unread_hint';
}

export interface GroupMessageCreatedEvent {
  module_id: 'group';
  group_id: string;
  seq: number;
  message_id: string;
  sender_aid: string;
  type: string;
  dispatch_mode: 'broadcast';
  dispatch: { mode: 'broadcast'; reason: string };
  payload: JsonObject;
  kind: 'group.broadcast';
  member_aids: string[];
}

/** Offline push (spec push.md §5): metadata only, never content, message ids or ciphertext. */
export interface OfflinePushSummary {
  unread_count: number;
  /** Distinct sender AIDs. */
  senders: string[];
  /** Newest aggregated message, seconds (as the AUN chapter's example). */
  latest_ts: number;
  /** Group AIDs involved; [] for P2P only. */
  group_ids: string[];
}
export interface OfflinePushItem { target_aid: string; push_token: string; summary: OfflinePushSummary }
export interface OfflinePushBatch { batch_id: string; items: OfflinePushItem[] }
/**
 * The Web Push payload the push agent sends and `aun-worker/push-sw` reads: who, how many, when;
 * never content (spec push.md §1).
 */
export interface OfflinePushPayload {
  v: 1;
  target_aid: string;
  unread_count: number;
  /** At most the agent's MAX_LISTED; `sender_count` is the full number. */
  senders: string[];
  sender_count: number;
  latest_ts: number;
  group_ids: string[];
}
/** A P2P recall notice (groups-and-more §2.2); `seq` is the receiving device's tombstone row. */
export interface MessageRecalledEvent {
  message_id: string;
  tombstone_message_id: string;
  from: string;
  to: string;
  message_ids: string[];
  seq: number;
  timestamp: number;
  device_id: string;
}

/** A group recall notice (§2.4); `seq` is the notice tombstone's seq. */
export interface GroupMessageRecalledEvent {
  module_id: 'group';
  group_id: string;
  seq: number;
  message_id: string;
  tombstone_message_id: string;
  message_ids: string[];
  target_message_seqs: number[];
  sender_aid: string;
  recalled_by: string;
  recalled_at: number;
  reason: string;
  member_aids: string[];
}

/** Sent to the owner on create (§3.2). */
export interface GroupCreatedEvent { module_id: 'group'; group_id: string; owner_aid: string; visibility: string }

/** Overwritten by the gateway on every routed notify (§4). */
export interface NotifyStamp { from_aid: string; device_id: string; slot_id: string; connection_id: string; sent_at: number; ttl_ms: number }

export interface EventMap {
  'gateway.disconnect': GatewayDisconnectEvent;
  'message.received': MessageReceivedEvent;
  'peer.v2.message_received': PeerV2MessageReceivedEvent;
  'group.v2.message_created': GroupV2MessageCreatedEvent;
  'group.message_created': GroupMessageCreatedEvent;
  'group.changed': GroupEvent;
  'push.offline_message': OfflinePushBatch;
  'message.recalled': MessageRecalledEvent;
  'group.message_recalled': GroupMessageRecalledEvent;
  'group.created': GroupCreatedEvent;
}

export type EventName = keyof EventMap;
