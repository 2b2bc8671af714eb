// The fallback ladder: how a tab reaches the owner, by rung.
//   shared — a SharedWorker (one per origin and versioned name).
//   leader — tabs elect one leader through a Web Lock; it runs the owner in a dedicated worker and
//            bridges the other tabs' ports over BroadcastChannel. When it dies, the next tab in
//            the lock queue takes over and the others re-attach to it.
//   single — a dedicated worker in this tab only (no Web Locks): nothing is shared, and it says so.
// Every rung ends the same way: an AttachMessage with two port ends reaches the owner's hub, so
// the client above does not care which rung it is on. The leader and single rungs live in
// fallback.ts, in the same chunk: as a lazy chunk (import()) they made a Vite app build add its
// preload helper to every tab, which cost more than the rungs themselves.

import type { AttachMessage, BuildInfo, OwnerAddress, Rung } from '../protocol/tab.ts';

export interface WorkerFactories {
  /** `name => new SharedWorker(new URL('…', import.meta.url), { type: 'module', name })` */
  shared?: (name: string) => SharedWorker;
  /** `name => new Worker(new URL('…', import.meta.url), { type: 'module', name })` (leader and single rungs) */
  dedicated?: (name: string) => Worker;
}

export type WorkerOption = string | URL | WorkerFactories | (() => SharedWorker);

export function factoriesOf(w: WorkerOption): WorkerFactories {
  if (typeof w === 'function') return { shared: w };
  if (typeof w === 'string' || w instanceof URL) {
    return {
      shared: (name) => new SharedWorker(w, { type: 'module', name }),
      dedicated: (name) => new Worker(w, { type: 'module', name }),
    };
  }
  return w;
}

/** Whether this context has Web Locks (tab and owner liveness, the leader election). */
export const hasLocks = () => typeof navigator !== 'undefined' && typeof navigator.locks?.request === 'function';
/** What the leader rung needs besides a dedicated worker: an election and a bus. */
const canLead = () => hasLocks() && typeof BroadcastChannel === 'function';

/** The highest rung this browser can run, by capability (never by user agent). */
export function probeRung(f: WorkerFactories): Rung {
  if (f.shared && typeof SharedWorker === 'function') return 'shared';
  if (f.dedicated && canLead() && typeof Worker === 'function') return 'leader';
  return 'single';
}

/** The next rung down, when one turned out not to work here. */
export function below(rung: Rung, f: WorkerFactories): Rung | null {
  if (rung === 'shared' && f.dedicated) return canLead() ? 'leader' : 'single';
  if (rung === 'leader' && f.dedicated) return 'single';
  return null;
}

export interface Transport {
  readonly rung: Rung;
  /** Starts what can start before the attach is ready (the worker lookup), to overlap waits. */
  prepare?(): void;
  /** Delivers the attach (and the two port ends in it) to the owner; `onError` if it cannot start. */
  attach(msg: AttachMessage, onError: (err: Error) => void): void;
  /** Stops resending an attach that was not answered. */
  cancel(): void;
  /** This tab's build is newer than its owner's (leader rung: ask the leader to hand over). */
  newerThanOwner?(mine: BuildInfo): void;
  /** The tab leaves this rung for the owner that holds its AID's session: stop what it runs. */
  close?(): void;
}

/** Posts the attach to a SharedWorker: the versioned one of this build, or where a handoff pointed. */
export class SharedTransport implements Transport {
  readonly rung = 'shared';
  /** Set by a `moved` frame: a newer build's owner at its own script URL. */
  target: OwnerAddress | null = null;
  #early: SharedWorker | null = null;
  readonly #factory: (name: string) => SharedWorker;
  readonly #name: string;

  constructor(factory: (name: string) => SharedWorker, name: string) {
    this.#factory = factory;
    this.#name = name;
  }

  #start(): SharedWorker {
    const t = this.target;
    return t ? new SharedWorker(t.url, { type: 'module', name: t.name }) : this.#factory(this.#name);
  }

  prepare(): void {
    this.#early ??= this.#start();
  }

  attach(msg: AttachMessage, onError: (err: Error) => void): void {
    const worker = this.#early ?? this.#start();
    this.#early = null;
    worker.onerror = () => onError(new Error('the shared worker script failed to load'));
    worker.port.postMessage(msg, [msg.rpc, msg.events]);
  }

  cancel(): void {}
}
