// A real Hub with the real tabFacade behind a fake SharedWorker (what main.ts's onconnect does),
// and raw attaches (what any script of the origin can post on the SharedWorker port).
import { vi } from 'vitest';
import { ATTACH, TAB_PROTOCOL, type AttachMessage, type OwnerFrame, type SessionSnapshot } from '../../../protocol/tab.ts';
import { tabFacade, type FacadeOwner, type TabAccount } from '../../../worker/hub/facade.ts';
import { Hub, type Tab } from '../../../worker/hub/hub.ts';

export function stubOwner(hub: () => Hub, over: Partial<FacadeOwner> = {}): FacadeOwner {
  const accounts = new Map<string, TabAccount>();
  const snap = (aid: string): SessionSnapshot => ({ aid, state: 'ready', detail: {}, lastLsn: 0 });
  return {
    identities: { list: async () => [], create: async () => { throw new Error('x'); }, import: async () => { throw new Error('x'); } },
    removeIdentity: async () => {},
    login: async (tab: Tab, aid: string) => { hub().bind(tab, aid, 0); return snap(aid); },
    logout: (tab: Tab) => void hub().unbind(tab),
    accountOf: (tab: Tab) => { const a = accounts.get(tab.aid ?? ''); if (!a) throw new Error('not logged in'); return a; },
    cancel: () => false,
    snapshot: (tab: Tab) => (tab.aid ? snap(tab.aid) : null),
    inspect: async () => ({ tabs: hub().list().map((t) => ({ id: t.id, aid: t.aid })) }) as never,
    draining: false,
    ...over,
  };
}

export function realHub(onDetach: (t: Tab) => void = () => {}, owner?: (hub: () => Hub) => FacadeOwner, locks?: LockManager) {
  let hub!: Hub;
  const o = (owner ?? ((h) => stubOwner(h)))(() => hub);
  hub = new Hub({ incarnation: 'i1', build: 'test', builtAt: 0, rung: () => 'shared', facade: (tab) => tabFacade(tab, hub, o), onDetach, ...(locks ? { locks } : {}) });
  /** A SharedWorker factory whose port the hub serves (as main.ts's onconnect does). */
  const worker = () => {
    const ch = new MessageChannel();
    hub.accept(ch.port2 as unknown as MessagePort);
    return { port: ch.port1, onerror: null } as unknown as SharedWorker;
  };
  return { hub: () => hub, owner: o, worker };
}

/** A raw attach (what any script of the origin can post on the SharedWorker port). */
export async function rawAttach(hub: Hub, tabId: string, extra: Partial<AttachMessage> = {}) {
  const port = new MessageChannel();
  const rpc = new MessageChannel();
  const events = new MessageChannel();
  const frames: OwnerFrame[] = [];
  const hello = new Promise<void>((r) => {
    events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => { frames.push(ev.data); if (ev.data.t === 'hello') r(); };
  });
  hub.accept(port.port2 as unknown as MessagePort);
  const msg = { type: ATTACH, tabId, tabLock: '', protocol: TAB_PROTOCOL, build: 'x', builtAt: 0, rpc: rpc.port2, events: events.port2, ...extra };
  port.port1.postMessage(msg, [rpc.port2, events.port2] as never);
  await hello;
  const answers = new Map<string, unknown>();
  rpc.port1.onmessage = (ev) => answers.set(ev.data.id, ev.data);
  const call = (name: string, ...args: unknown[]) => {
    const id = `${name}-${Math.random()}`;
    rpc.port1.postMessage({ id, type: 'APPLY', path: [name], argumentList: args.map((value) => ({ type: 'RAW', value })) });
    return id;
  };
  return { frames, answers, call, rpc: rpc.port1, events: events.port1 };
}

export const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
export const race = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), tick(ms).then(() => 'pending' as const)]);
export { vi };
