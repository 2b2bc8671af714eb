// The client API for recall, group administration, settings, search, notify and thoughts (spec
// groups-and-more): thin typed wrappers over the owner facade and `call`, mixed into the client by
// index.ts.

import type { JsonObject } from '../protocol/frames.ts';
import type { GroupGetInfoResult, MethodName, ParamsOf, ResultOf } from '../protocol/methods.ts';
import type {
  CreateInviteCodeParams, GetSettingsResult, GroupSearchItem, InviteCode, SetRoleResult, SuspendResult,
  ThoughtContext, TransferOwnerResult, UseInviteCodeResult,
} from '../protocol/methods-extra.ts';
import type { NotifyTarget, Outcome, OwnerFacade, RecallOutcome, Thought, ThoughtPut } from '../protocol/tab.ts';

type Invoke = <T>(fn: (f: OwnerFacade) => Promise<Outcome<T>>) => Promise<T>;
type Call = <M extends MethodName>(method: M, params: ParamsOf<M>) => Promise<ResultOf<M>>;

const ids = (messageIds: string | string[]) => (Array.isArray(messageIds) ? messageIds : [messageIds]);
const ref = (groupId: string) => ({ group_id: groupId, group_aid: groupId });

/** Group methods beyond membership and sending; `aun.groups.*`. */
export function groupExtras(invoke: Invoke, call: Call) {
  return {
    /**
     * Recalls group messages this AID sent (within two minutes of sending). Every tab gets one
     * `group.message_recalled` event and the messages' plaintext is removed from the local log.
     */
    recall: (groupId: string, messageIds: string | string[], reason = ''): Promise<RecallOutcome> =>
      invoke((f) => f.recall(ids(messageIds), groupId, reason)),
    /** The group's fields; members see the member-only ones (owner, role, key epoch). */
    info: (groupId: string): Promise<GroupGetInfoResult> => call('group.get_info', { ...ref(groupId), required: ['member'] }),
    /** Makes a member an admin or a plain member (owner only; an admin may step down itself). */
    setRole: (groupId: string, aid: string, role: 'admin' | 'member'): Promise<SetRoleResult> => call('group.set_role', { ...ref(groupId), aid, role }),
    /** Hands the group to another member (owner only); the old owner becomes an admin. */
    transferOwner: (groupId: string, newOwner: string): Promise<TransferOwnerResult> => call('group.transfer_owner', { ...ref(groupId), new_owner: newOwner }),
    /** Ends the group for every member (owner only; irreversible). */
    dissolve: async (groupId: string): Promise<void> => void (await call('group.dissolve', ref(groupId))),
    /** Stops all sending in the group until `resume` (owner or admin). */
    suspend: (groupId: string): Promise<SuspendResult> => call('group.suspend', ref(groupId)),
    resume: (groupId: string): Promise<SuspendResult> => call('group.resume', ref(groupId)),
    /** A code another AID joins with (owner or admin); one use and seven days by default. */
    invite: async (groupId: string, opts: { maxUses?: number; expiresInSeconds?: number; code?: string } = {}): Promise<InviteCode> => {
      const params: CreateInviteCodeParams = { ...ref(groupId) };
      if (opts.maxUses !== undefined) params.max_uses = opts.maxUses;
      if (opts.expiresInSeconds !== undefined) params.expires_in_seconds = opts.expiresInSeconds;
      if (opts.code !== undefined) params.code = opts.code;
      return (await call('group.create_invite_code', params)).invite_code;
    },
    /** Joins the group an invite code belongs to. */
    join: (code: string): Promise<UseInviteCodeResult> => call('group.use_invite_code', { code }),
    /** Public groups whose name, id or description contains `query`. */
    search: async (query: string, opts: { size?: number } = {}): Promise<GroupSearchItem[]> =>
      (await call('group.search', { query, ...(opts.size ? { size: opts.size } : {}) })).items,
    /** Group settings: plain (`name`, `description`, `visibility`, `dispatch_mode`) and indexed ones (`rules.content`, `announcement.content`, `join.mode`, …). */
    settings: {
      /** The settings named by `keys` (all of them without), as key → value. */
      get: async (groupId: string, keys?: string[]): Promise<Record<string, unknown>> => {
        const r: GetSettingsResult = await call('group.get_settings', { ...ref(groupId), ...(keys ? { keys } : {}) });
        return Object.fromEntries(r.settings.map((s) => [s.key, s.value]));
      },
      /**
       * Writes settings (owner or admin). Indexed keys go with a `group.index` this AID signs,
       * written by compare-and-swap; a write that loses the race twice rejects with
       * VersionConflictError. Resolves with the keys written.
       */
      set: (groupId: string, settings: Record<string, unknown>): Promise<string[]> => invoke((f) => f.groupSettingsSet(groupId, settings)),
    },
  };
}

/** End-to-end encrypted thoughts (an agent's current thinking per context); `aun.thoughts.*`. */
export function thoughtsApi(invoke: Invoke) {
  return {
    /** Appends a thought for a peer (`{to}`) or a group (`{groupId}`) under `context`. */
    put: (target: NotifyTarget, context: ThoughtContext, payload: JsonObject): Promise<ThoughtPut> => invoke((f) => f.thoughtPut(target, context, payload)),
    /** A sender's thoughts for a context, decrypted (`payload: null` when this device cannot read one). */
    get: (target: NotifyTarget & { sender: string }, context: ThoughtContext): Promise<Thought[]> => invoke((f) => f.thoughtGet(target, context)),
  };
}

/** Recall of P2P messages; `aun.recall(messageId)`. */
export function recallP2p(invoke: Invoke, messageIds: string | string[]): Promise<RecallOutcome> {
  return invoke((f) => f.recall(ids(messageIds), null, ''));
}

/** A notice to an AID (a string) or a group (`{groupId}`); `aun.notify(to, kind, params)`. */
export function notifyTo(invoke: Invoke, to: string | { groupId: string }, kind: string, params: JsonObject = {}): Promise<boolean> {
  const target: NotifyTarget = typeof to === 'string' ? { to } : { groupId: to.groupId };
  return invoke((f) => f.notify(target, kind, params));
}
