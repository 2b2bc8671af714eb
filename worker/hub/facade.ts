// The capability a tab gets: one facade per tab, every method answering an Outcome (never a
// throw across the port), each call run for the AID the tab is logged in as. The owner's parts
// reach it as small interfaces: the identities, the accounts and the hub's own tab state.

import { ErrorCode, errorToWire } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { MethodName, ParamsOf, ResultOf } from '../../protocol/methods.ts';
import type { ThoughtContext } from '../../protocol/methods-extra.ts';
import {
  NOT_EXECUTED, type GatewayOptions, type IdentityInfo, type InspectorSnapshot, type NotifyTarget,
  type Outcome, type OwnerFacade, type SendOptions, type SessionSnapshot, type TabEventName,
} from '../../protocol/tab.ts';
import type { Hub, Tab } from './hub.ts';

/** What a facade method answers when it succeeds. */
type Value<K extends keyof OwnerFacade> = OwnerFacade[K] extends (...args: never[]) => Promise<Outcome<infer T>> ? T : never;

/** What a tab may ask of the account it is logged in as (worker/account.ts). */
export interface TabAccount {
  readonly session: { reconnectNow(): void };
  readonly lastLsn: number;
  call<M extends MethodName>(callId: string, method: M, params: ParamsOf<M>, timeoutMs?: number): Promise<ResultOf<M>>;
  send(to: string, payload: JsonObject, encrypt: boolean, timeoutMs?: number): Promise<Value<'send'>>;
  replay(afterLsn: number, limit: number): Promise<Value<'replay'>>;
  groupCreate(name: string): Promise<Value<'groupCreate'>>;
  groupMembership(method: 'group.add_member' | 'group.kick', groupId: string, member: string): Promise<Value<'groupAdd'>>;
  groupLeave(groupId: string): Promise<void>;
  groupList(): Promise<Value<'groupList'>>;
  groupMembers(groupId: string): Promise<Value<'groupMembers'>>;
  groupSend(groupId: string, payload: JsonObject, encrypt: boolean, timeoutMs?: number): Promise<Value<'groupSend'>>;
  readonly actions: {
    recall(ids: string[], groupId: string | null, reason: string): Promise<Value<'recall'>>;
    setGroupSettings(groupId: string, settings: Record<string, unknown>): Promise<Value<'groupSettingsSet'>>;
    thoughtPut(target: NotifyTarget, context: ThoughtContext, payload: JsonObject): Promise<Value<'thoughtPut'>>;
    thoughtGet(target: NotifyTarget & { sender: string }, context: ThoughtContext): Promise<Value<'thoughtGet'>>;
  };
  readonly notifier: { send(target: NotifyTarget, kind: string, params: JsonObject): boolean };
}

/** The owner's side of every facade (worker/runtime.ts). */
export interface FacadeOwner {
  readonly identities: {
    list(): Promise<IdentityInfo[]>;
    create(aid: string, options: GatewayOptions): Promise<IdentityInfo>;
    import(aid: string, privateKeyPem: string, options: GatewayOptions): Promise<IdentityInfo>;
  };
  removeIdentity(aid: string): Promise<void>;
  login(tab: Tab, aid: string, options: Partial<GatewayOptions>): Promise<SessionSnapshot>;
  logout(tab: Tab): void;
  /** The account `tab` is logged in as; throws SessionError when it is not logged in. */
  accountOf(tab: Tab): TabAccount;
  cancel(tab: Tab, callId: string): boolean;
  snapshot(tab: Tab): SessionSnapshot | null;
  inspect(): Promise<InspectorSnapshot>;
  /** True once a handoff to a newer build started: calls that would act are turned away. */
  readonly draining: boolean;
}

/** Turns a facade method into one that never throws across the port. */
function outcome<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<Outcome<T>> {
  return async (...args) => {
    try {
      return { ok: true, value: await fn(...args) };
    } catch (err) {
      return { ok: false, error: errorToWire(err) };
    }
  };
}

/** Facade calls a draining owner still serves: they change nothing at the gateway. */
const SERVED_WHILE_DRAINING = new Set<keyof OwnerFacade>(['detach', 'lockHeld', 'inspect', 'snapshot', 'ackEvents', 'cancel', 'replay', 'subscribe', 'unsubscribe']);
/** What a draining owner answers to any other call: not run, so the tab retries it on the next owner. */
const NOT_RUN: Outcome<never> = { ok: false, error: { name: 'ConnectionLostError', code: ErrorCode.Internal, message: 'the owner is handing over to a newer build', data: NOT_EXECUTED } };

/** The facade (capability) of one tab. */
export function tabFacade(tab: Tab, hub: Hub, owner: FacadeOwner): OwnerFacade {
  const f = methods(tab, hub, owner);
  for (const k of Object.keys(f) as (keyof OwnerFacade)[]) {
    if (SERVED_WHILE_DRAINING.has(k)) continue;
    const run = f[k] as (...a: unknown[]) => Promise<Outcome<unknown>>;
    (f as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => (owner.draining ? Promise.resolve(NOT_RUN) : run(...a));
  }
  return f;
}

function methods(tab: Tab, hub: Hub, owner: FacadeOwner): OwnerFacade {
  const my = () => owner.accountOf(tab);
  const { identities } = owner;
  return {
    listIdentities: outcome(() => identities.list()),
    createIdentity: outcome((aid: string, options: GatewayOptions) => identities.create(aid, options)),
    importIdentity: outcome((aid: string, pem: string, options: GatewayOptions) => identities.import(aid, pem, options)),
    removeIdentity: outcome((aid: string) => owner.removeIdentity(aid)),
    login: outcome((aid: string, options: Partial<GatewayOptions>) => owner.login(tab, aid, options)),
    logout: outcome(async () => owner.logout(tab)),
    reconnectNow: outcome(async () => my().session.reconnectNow()),
    call: outcome((callId: string, method: MethodName, params: unknown, o: { timeoutMs?: number }) =>
      my().call(callId, method, params as ParamsOf<MethodName>, o?.timeoutMs)) as OwnerFacade['call'],
    send: outcome((to: string, payload: JsonObject, o: SendOptions) => my().send(to, payload, o?.encrypt !== false, o?.timeoutMs)),
    replay: outcome(async (afterLsn: number, limit: number) => my().replay(afterLsn, limit)),
    ackEvents: outcome(async (lsn: number) => hub.ack(tab, lsn, my().lastLsn)),
    cancel: outcome(async (callId: string) => owner.cancel(tab, callId)),
    groupCreate: outcome((name: string) => my().groupCreate(name)),
    groupAdd: outcome((groupId: string, aid: string) => my().groupMembership('group.add_member', groupId, aid)),
    groupRemove: outcome((groupId: string, aid: string) => my().groupMembership('group.kick', groupId, aid)),
    groupLeave: outcome((groupId: string) => my().groupLeave(groupId)),
    groupList: outcome(() => my().groupList()),
    groupMembers: outcome((groupId: string) => my().groupMembers(groupId)),
    groupSend: outcome((groupId: string, payload: JsonObject, o: SendOptions) => my().groupSend(groupId, payload, o?.encrypt !== false, o?.timeoutMs)),
    recall: outcome((ids: string[], groupId: string | null, reason: string) => my().actions.recall(ids, groupId, reason)),
    notify: outcome(async (target: NotifyTarget, kind: string, params: JsonObject) => my().notifier.send(target, kind, params)),
    groupSettingsSet: outcome((groupId: string, settings: Record<string, unknown>) => my().actions.setGroupSettings(groupId, settings)),
    thoughtPut: outcome((target: NotifyTarget, context: ThoughtContext, payload: JsonObject) => my().actions.thoughtPut(target, context, payload)),
    thoughtGet: outcome((target: NotifyTarget & { sender: string }, context: ThoughtContext) => my().actions.thoughtGet(target, context)),
    subscribe: outcome(async (names: TabEventName[]) => hub.subscribe(tab, names, true)),
    unsubscribe: outcome(async (names: TabEventName[]) => hub.subscribe(tab, names, false)),
    snapshot: outcome(async () => owner.snapshot(tab)),
    inspect: outcome(() => owner.inspect()),
    detach: outcome(async () => hub.detach(tab.id)),
    lockHeld: outcome(async () => hub.lockHeld(tab.id)),
  };
}
