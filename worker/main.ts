// The worker entry, for every rung: as a SharedWorker it serves the tabs that connect and agrees
// with owners of other builds which one is active (hub/succession.ts); as a dedicated worker
// (leader and single rungs) it serves the ports its tab hands it.

import { CONNECT, DRAIN, DRAINED, RESIGN, type ResignMessage } from '../protocol/dedicated.ts';
import { ATTACH, TAB_PROTOCOL, type OwnerAddress, type OwnerFrame, type Rung } from '../protocol/tab.ts';
import { busBridge, type BusBridge } from './hub/bus-bridge.ts';
import { succession } from './hub/succession.ts';
import { Runtime } from './runtime.ts';
import { keystoreProbe } from './store/probe.ts';

declare const __AUN_BUILD__: string | undefined;
declare const __AUN_BUILT_AT__: number | undefined;

const build = typeof __AUN_BUILD__ === 'string' ? __AUN_BUILD__ : 'dev';
const builtAt = typeof __AUN_BUILT_AT__ === 'number' ? __AUN_BUILT_AT__ : 0;
const log = (line: string) => console.debug(`[aun-worker] ${line}`);
const shared = typeof SharedWorkerGlobalScope === 'function' && self instanceof SharedWorkerGlobalScope;
const name = (self as unknown as { name: string }).name;
const me: OwnerAddress = { protocol: TAB_PROTOCOL, build, builtAt, url: self.location.href, name };

let runtime: Runtime;
const gate = shared && self.navigator.locks
  ? succession({
    base: name.split('@')[0] || name,
    me,
    locks: self.navigator.locks,
    drain: (to) => runtime.drain(to),
    // The tabs have moved; give their frames a moment to leave before this worker goes.
    retired: () => setTimeout(() => self.close(), 250),
    log,
  })
  : undefined;

runtime = new Runtime({ build, builtAt, name, url: me.url, rung: shared ? 'shared' : 'single', ...(gate ? { gate } : {}), log });
// An owner that another build replaced serves nobody: once its redirects are out, it ends.
void gate?.then((elsewhere) => elsewhere && setTimeout(() => self.close(), 30_000));

if (shared) {
  // Asked once, before the first attach is served: an owner whose keystore cannot keep keys here
  // turns every tab away to the next rung instead of failing at its first login.
  const unfit = keystoreProbe().catch((err: unknown) => `the keystore probe failed: ${String(err)}`);
  void unfit.then((why) => why !== null && log(`unfit for the shared rung: ${why}`));
  (self as unknown as SharedWorkerGlobalScope).onconnect = (ev: MessageEvent) => {
    for (const port of ev.ports) void unfit.then((why) => (why === null ? runtime.accept(port) : turnAway(port, why)));
  };
} else {
  let bus: BusBridge | null = null;
  self.onmessage = (ev: MessageEvent) => {
    const m = ev.data as { type?: unknown; rung?: unknown; bus?: unknown } | null;
    // Only the tab that started this worker can post here: it is the leader handing over.
    if (m?.type === DRAIN) {
      bus?.retire();
      void runtime.drain(null).finally(() => self.postMessage({ type: DRAINED }));
      return;
    }
    if (m?.type !== CONNECT || !ev.ports[0]) return;
    if (m.rung === 'leader' || m.rung === 'single') runtime.rung = m.rung as Rung;
    runtime.accept(ev.ports[0]);
    // The leader rung: this owner serves the follower tabs over their bus itself.
    if (m.rung === 'leader' && typeof m.bus === 'string' && !bus) {
      const entry = new MessageChannel();
      runtime.accept(entry.port2);
      bus = busBridge(m.bus, entry.port1, {
        ...(self.navigator.locks ? { locks: self.navigator.locks } : {}),
        onResign: ({ from, build }) => self.postMessage({ type: RESIGN, from, build } satisfies ResignMessage),
      });
    }
  };
}

/** Answers every attach on `port` with `unfit`: the tab tries the next rung. */
function turnAway(port: MessagePort, why: string): void {
  port.onmessage = (ev: MessageEvent) => {
    const m = ev.data as { type?: unknown; events?: unknown; rpc?: unknown } | null;
    if (m?.type !== ATTACH || !(m.events instanceof MessagePort)) return;
    m.events.postMessage({ t: 'unfit', reason: why } satisfies OwnerFrame);
    m.events.close();
    if (m.rpc instanceof MessagePort) m.rpc.close();
  };
}
