// The client's identity and group calls (`aun.identities.*`, `aun.groups.*`, with the group
// administration, settings and search of spec groups-and-more): what each sends to the owner. An
// identity's private key is made or imported in the worker and never comes back.

import { ValidationError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/frames.ts';
import type {
  CreateInviteCodeParams, GetSettingsResult, GroupSearchItem, InviteCode, SetRoleResult, SuspendResult,
  TransferOwnerResult, UseInviteCodeResult,
} from '../protocol/methods-extra.ts';
import type { GroupGetInfoResult, MethodName, ParamsOf, ResultOf } from '../protocol/methods.ts';
import type { GroupInfo, GroupMember } from '../protocol/wire-common.ts';
import type { GatewayOptions, GroupSent, GroupSummary, IdentityInfo, Outcome, RecallOutcome } from '../protocol/tab.ts';
import type { Calls, RequestOptions } from './calls.ts';
import { ids } from './extras.ts';

const ref = (groupId: string) => ({ group_id: groupId, group_aid: groupId });

/** `defaults` (connect()'s gateway and roots) under `options`; at least one root CA is required. */
export function gatewayOptions(defaults: Partial<GatewayOptions>, options: Partial<GatewayOptions>): GatewayOptions {
  const merged = { ...defaults, ...options };
  // Without a gateway the worker discovers it from the AID (/.well-known/aun-gateway).
  if (!merged.rootCa?.length) throw new ValidationError('no trusted root CA: pass rootCa to connect() or to this call');
  return { ...merged, gateway: merged.gateway ?? '' } as GatewayOptions;
}

/** `aun.identities`: this origin's identities (AIDs whose keys live in the worker). */
export interface Identities {
  list(): Promise<IdentityInfo[]>;
  create(aid: string, options?: Partial<GatewayOptions>): Promise<IdentityInfo>;
  /** Imports an AID whose private key (PKCS#8 PEM) was made elsewhere; the key stays in the worker. */
  import(aid: string, privateKeyPem: string, options?: Partial<GatewayOptions>): Promise<IdentityInfo>;
  remove(aid: string): Promise<void>;
}

/** `aun.groups.settings`: plain settings (`name`, `description`, `visibility`, `dispatch_mode`) and indexed ones (`rules.content`, `announcement.content`, `join.mode`, …). */
export interface GroupSettings {
  /** The settings named by `keys` (all of them without), as key → value. */
  get(groupId: string, keys?: string[]): Promise<Record<string, unknown>>;
  /**
   * Writes settings (owner or admin). Indexed keys go with a `group.index` this AID signs,
   * written by compare-and-swap; a write that loses the race twice rejects with
   * VersionConflictError. Resolves with the keys written.
   */
  set(groupId: string, settings: Record<string, unknown>): Promise<string[]>;
}

/** `aun.groups`: groups of the logged-in AID. Group sends are end-to-end encrypted by default. */
export interface Groups {
  create(name: string): Promise<GroupInfo>;
  add(groupId: string, aid: string): Promise<GroupInfo>;
  remove(groupId: string, aid: string): Promise<GroupInfo>;
  leave(groupId: string): Promise<void>;
  list(): Promise<GroupSummary[]>;
  members(groupId: string): Promise<GroupMember[]>;
  send(groupId: string, payload: JsonObject, opts?: RequestOptions & { encrypt?: boolean }): Promise<GroupSent>;
  /**
   * Recalls group messages this AID sent (within two minutes of sending). Every tab gets one
   * `group.message_recalled` event and the messages' plaintext is removed from the local log.
   */
  recall(groupId: string, messageIds: string | string[], reason?: string): Promise<RecallOutcome>;
  /** The group's fields; members see the member-only ones (owner, role, key epoch). */
  info(groupId: string): Promise<GroupGetInfoResult>;
  /** Makes a member an admin or a plain member (owner only; an admin may step down itself). */
  setRole(groupId: string, aid: string, role: 'admin' | 'member'): Promise<SetRoleResult>;
  /** Hands the group to another member (owner only); the old owner becomes an admin. */
  transferOwner(groupId: string, newOwner: string): Promise<TransferOwnerResult>;
  /** Ends the group for every member (owner only; irreversible). */
  dissolve(groupId: string): Promise<void>;
  /** Stops all sending in the group until `resume` (owner or admin). */
  suspend(groupId: string): Promise<SuspendResult>;
  resume(groupId: string): Promise<SuspendResult>;
  /** A code another AID joins with (owner or admin); one use and seven days by default. */
  invite(groupId: string, opts?: { maxUses?: number; expiresInSeconds?: number; code?: string }): Promise<InviteCode>;
  /** Joins the group an invite code belongs to. */
  join(code: string): Promise<UseInviteCodeResult>;
  /** Public groups whose name, id or description contains `query`. */
  search(query: string, opts?: { size?: number }): Promise<GroupSearchItem[]>;
  settings: GroupSettings;
}

export function identitiesApi(c: Calls, defaults: Partial<GatewayOptions>): Identities {
  return {
    list: (): Promise<IdentityInfo[]> => c.invoke((f) => f.listIdentities()),
    create: (aid: string, options: Partial<GatewayOptions> = {}): Promise<IdentityInfo> =>
      c.invoke((f) => f.createIdentity(aid, gatewayOptions(defaults, options))),
    import: (aid: string, privateKeyPem: string, options: Partial<GatewayOptions> = {}): Promise<IdentityInfo> =>
      c.invoke((f) => f.importIdentity(aid, privateKeyPem, gatewayOptions(defaults, options))),
    remove: (aid: string): Promise<void> => c.invoke((f) => f.removeIdentity(aid)),
  };
}

export function groupsApi(c: Calls): Groups {
  const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> =>
    c.request({}, (f, id, o) => f.call(id, method, params, o) as Promise<Outcome<ResultOf<M>>>);
  return {
    create: (name: string): Promise<GroupInfo> => c.invoke((f) => f.groupCreate(name)),
    add: (groupId: string, aid: string): Promise<GroupInfo> => c.invoke((f) => f.groupAdd(groupId, aid)),
    remove: (groupId: string, aid: string): Promise<GroupInfo> => c.invoke((f) => f.groupRemove(groupId, aid)),
    leave: (groupId: string): Promise<void> => c.invoke((f) => f.groupLeave(groupId)),
    list: (): Promise<GroupSummary[]> => c.invoke((f) => f.groupList()),
    members: (groupId: string): Promise<GroupMember[]> => c.invoke((f) => f.groupMembers(groupId)),
    send: (groupId: string, payload: JsonObject, opts: RequestOptions & { encrypt?: boolean } = {}): Promise<GroupSent> => {
      const encrypt = opts.encrypt ?? true;
      return c.request(opts, (f, _id, o) => f.groupSend(groupId, payload, { ...o, encrypt }));
    },
    recall: (groupId: string, messageIds: string | string[], reason = ''): Promise<RecallOutcome> =>
      c.invoke((f) => f.recall(ids(messageIds), groupId, reason)),
    info: (groupId: string): Promise<GroupGetInfoResult> => call('group.get_info', { ...ref(groupId), required: ['member'] }),
    setRole: (groupId: string, aid: string, role: 'admin' | 'member'): Promise<SetRoleResult> => call('group.set_role', { ...ref(groupId), aid, role }),
    transferOwner: (groupId: string, newOwner: string): Promise<TransferOwnerResult> => call('group.transfer_owner', { ...ref(groupId), new_owner: newOwner }),
    dissolve: async (groupId: string): Promise<void> => void (await call('group.dissolve', ref(groupId))),
    suspend: (groupId: string): Promise<SuspendResult> => call('group.suspend', ref(groupId)),
    resume: (groupId: string): Promise<SuspendResult> => call('group.resume', ref(groupId)),
    invite: async (groupId: string, opts: { maxUses?: number; expiresInSeconds?: number; code?: string } = {}): Promise<InviteCode> => {
      const params: CreateInviteCodeParams = { ...ref(groupId) };
      if (opts.maxUses !== undefined) params.max_uses = opts.maxUses;
      if (opts.expiresInSeconds !== undefined) params.expires_in_seconds = opts.expiresInSeconds;
      if (opts.code !== undefined) params.code = opts.code;
      return (await call('group.create_invite_code', params)).invite_code;
    },
    join: (code: string): Promise<UseInviteCodeResult> => call('group.use_invite_code', { code }),
    search: async (query: string, opts: { size?: number } = {}): Promise<GroupSearchItem[]> =>
      (await call('group.search', { query, ...(opts.size ? { size: opts.size } : {}) })).items,
    settings: {
      get: async (groupId: string, keys?: string[]): Promise<Record<string, unknown>> => {
        const r: GetSettingsResult = await call('group.get_settings', { ...ref(groupId), ...(keys ? { keys } : {}) });
        return Object.fromEntries(r.settings.map((s) => [s.key, s.value]));
      },
      set: (groupId: string, settings: Record<string, unknown>): Promise<string[]> => c.invoke((f) => f.groupSettingsSet(groupId, settings)),
    },
  };
}
