// The wire types both method declarations share (protocol/methods.ts and protocol/methods-extra.ts
// import them from here, so neither imports the other's types back): the client signature of
// signed methods, the group reference every group call carries, and a group and its member as
// the gateway reports them.

/** Attached to signed methods (spec §10.2). */
export interface ClientSignature {
  aid: string;
  cert_fingerprint: string;
  timestamp: string;
  params_hash: string;
  signature: string;
  /** Added by the gateway when it relays a signature inside an event. */
  _method?: string;
}

export interface Signed {
  client_signature?: ClientSignature;
}

/** Group calls carry both ids plus the caller's instance (spec §5, §8.1). */
export interface GroupRef {
  group_id: string;
  group_aid?: string;
  device_id?: string;
  slot_id?: string;
}

export interface GroupInfo {
  group_id: string;
  group_aid: string;
  name: string;
  owner_aid: string;
  creator_aid: string;
  visibility: string;
  join_mode: string;
  description: string;
  status: 'active' | 'suspended' | 'dissolved';
  member_count: number;
  message_seq: number;
  event_seq: number;
  created_at: number;
  updated_at: number;
  e2ee_epoch: number;
}

export interface GroupMember { aid: string; role: 'owner' | 'admin' | 'member'; member_type: string; joined_at: number }
