// The leader rung's bridge, in the leader's owner (a dedicated worker): follower tabs cannot hand
// this worker their ports (a BroadcastChannel carries no ports), so their attaches and calls come
// over the bus `aun-bus:<base>:leader` and their answers and events go back on
// `aun-bus:<base>:<tabId>`. Each follower's attach becomes an attach with two local port pairs on
// `entry`, the port the runtime serves, as a tab's own attach would. The leader tab's main thread
// is not on the way: a busy or frozen leader tab delays no follower.

import { busChannel, type BusMessage } from '../../protocol/dedicated.ts';
import type { AttachMessage } from '../../protocol/tab.ts';

/** A follower that attached before its lock was granted is watched after this long even if it never says so (as the hub does). */
const LOCK_PENDING_MS = 10_000;

interface Bridge {
  attempt: string;
  rpc: MessagePort;
  /** Starts watching the follower's tab lock (once). */
  watch?: (() => void) | null;
  close(): void;
}

export interface BusBridge {
  /** Takes no new attaches (the owner drains for another leader); bridges up keep relaying. */
  retire(): void;
  /** Ends every bridge and stops listening (the worker itself simply ends with its tab's terminate()). */
  close(): void;
}

export interface BusBridgeOptions {
  /** Where followers' tab locks are watched; absent, the hub's own watch is all there is. */
  locks?: Pick<LockManager, 'request'>;
  /** A follower of a newer build asked to lead: the leader tab decides. */
  onResign(m: Extract<BusMessage, { t: 'resign' }>): void;
}

/** Serves the followers of `base` on `entry`; announces on the bus that it listens. */
export function busBridge(base: string, entry: MessagePort, opts: BusBridgeOptions): BusBridge {
  const bridges = new Map<string, Bridge>();
  const bus = new BroadcastChannel(busChannel(base, 'leader'));
  let retired = false;

  const attach = (m: Extract<BusMessage, { t: 'attach' }>) => {
    const head = m.head as Partial<AttachMessage> | null;
    if (retired || typeof m.from !== 'string' || typeof m.attempt !== 'string' || typeof head !== 'object' || !head) return;
    const old = bridges.get(m.from);
    if (old?.attempt === m.attempt) return;
    old?.close();
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    const out = new BroadcastChannel(busChannel(base, m.from));
    const relay = (ch: 'rpc' | 'events') => (ev: MessageEvent) => out.postMessage({ t: 'frame', attempt: m.attempt, ch, data: ev.data } satisfies BusMessage);
    rpc.port1.onmessage = relay('rpc');
    events.port1.onmessage = relay('events');
    const bridge: Bridge = {
      attempt: m.attempt,
      rpc: rpc.port1,
      close: () => {
        rpc.port1.close();
        events.port1.close();
        out.close();
        if (bridges.get(m.from) === bridge) bridges.delete(m.from);
      },
    };
    bridges.set(m.from, bridge);
    // The head's fields are checked by the hub, as a tab's own attach is; the ports are ours.
    entry.postMessage({ ...head, rpc: rpc.port2, events: events.port2 }, [rpc.port2, events.port2]);
    // The follower's own lock goes when it does: then its bridge goes too. A follower that
    // attached before its lock was granted (lockPending) is watched once it tells its owner it
    // holds it (lockHeld), or after LOCK_PENDING_MS: asked first, this worker would get it first.
    // (A closed bridge watched later is closed again when the lock is granted: harmless.)
    const lock = head.tabLock;
    if (!lock || typeof lock !== 'string' || !opts.locks) return;
    const locks = opts.locks;
    bridge.watch = () => {
      bridge.watch = null;
      // A request that fails says nothing of the follower: its bridge stays (the hub watches it too).
      void locks.request(lock, () => bridge.close()).catch(() => {});
    };
    if (head.lockPending) setTimeout(() => bridge.watch?.(), LOCK_PENDING_MS);
    else bridge.watch();
  };

  bus.onmessage = (ev: MessageEvent<BusMessage>) => {
    const m = ev.data;
    if (m?.t === 'rpc') {
      const b = bridges.get(m.from);
      if (b?.attempt !== m.attempt) return;
      b.rpc.postMessage(m.data);
      // The follower tells its owner it holds its tab lock now: the bridge may watch it too.
      if ((m.data as { path?: unknown[] } | null)?.path?.[0] === 'lockHeld') b.watch?.();
    } else if (m?.t === 'attach') {
      attach(m);
    } else if (m?.t === 'resign' && !retired) {
      opts.onResign(m);
    }
  };
  // Followers waiting for a leader send their attach again when they hear this: it is said once
  // this owner listens, so none is lost to a worker still starting.
  const all = new BroadcastChannel(busChannel(base, 'all'));
  all.postMessage({ t: 'leader' } satisfies BusMessage);
  all.close();

  return {
    retire: () => {
      retired = true;
    },
    close: () => {
      retired = true;
      bus.close();
      for (const b of [...bridges.values()]) b.close();
    },
  };
}
