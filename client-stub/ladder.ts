// The fallback ladder: how a tab reaches the owner, by rung.
//   shared — a SharedWorker (one per origin and versioned name).
//   leader — tabs elect one leader through a Web Lock; it runs the owner in a dedicated worker and
//            bridges the other tabs' ports over BroadcastChannel. When it dies, the next tab in
//            the lock queue takes over and the others re-attach to it.
//   single — a dedicated worker in this tab only (no Web Locks): nothing is shared, and it says so.
// Every rung ends the same way: an AttachMessage with two port ends reaches the owner's hub, so
// the client above does not care which rung it is on.

import { CONNECT, type AttachMessage, type OwnerAddress, type Rung } from '../protocol/index.ts';

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

const hasLocks = () => typeof navigator !== 'undefined' && typeof navigator.locks?.request === 'function';

/** The highest rung this browser can run, by capability (never by user agent). */
export function probeRung(f: WorkerFactories): Rung {
  if (f.shared && typeof SharedWorker === 'function') return 'shared';
  if (f.dedicated && hasLocks() && typeof BroadcastChannel === 'function' && typeof Worker === 'function') return 'leader';
  return 'single';
}

/** The next rung down, when one turned out not to work here. */
export function below(rung: Rung, f: WorkerFactories): Rung | null {
  if (rung === 'shared' && f.dedicated) return hasLocks() && typeof BroadcastChannel === 'function' ? 'leader' : 'single';
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
}

/** Posts the attach to a SharedWorker: the versioned one of this build, or where a handoff pointed. */
export class SharedTransport implements Transport {
  readonly rung = 'shared';
  /** Set by a `moved` frame: a newer build's owner at its own script URL. */
  target: OwnerAddress | null = null;
  private early: SharedWorker | null = null;
  constructor(private readonly factory: (name: string) => SharedWorker, private readonly name: string) {}

  private start(): SharedWorker {
    const t = this.target;
    return t ? new SharedWorker(t.url, { type: 'module', name: t.name }) : this.factory(this.name);
  }

  prepare(): void {
    this.early ??= this.start();
  }

  attach(msg: AttachMessage, onError: (err: Error) => void): void {
    const worker = this.early ?? this.start();
    this.early = null;
    worker.onerror = () => onError(new Error('the shared worker script failed to load'));
    worker.port.postMessage(msg, [msg.rpc, msg.events]);
  }

  cancel(): void {}
}

function connectTo(worker: Worker, rung: Rung): MessagePort {
  const ch = new MessageChannel();
  worker.postMessage({ type: CONNECT, rung }, [ch.port2]);
  return ch.port1;
}

/** The owner in a dedicated worker of this tab, used by this tab alone. */
export class SingleTransport implements Transport {
  readonly rung = 'single';
  private port: MessagePort | null = null;
  constructor(private readonly factory: (name: string) => Worker, private readonly name: string) {}

  attach(msg: AttachMessage): void {
    this.port ??= connectTo(this.factory(this.name), 'single');
    this.port.postMessage(msg, [msg.rpc, msg.events]);
  }

  cancel(): void {}
}

/** A follower's attach as it crosses the BroadcastChannel: the same fields, without the ports. */
type AttachHead = Omit<AttachMessage, 'rpc' | 'events'>;

type BusMessage =
  | { t: 'attach'; from: string; attempt: string; head: AttachHead }
  | { t: 'rpc'; from: string; attempt: string; data: unknown }
  | { t: 'frame'; attempt: string; ch: 'rpc' | 'events'; data: unknown }
  | { t: 'leader' };

const RESEND_MS = 250;

interface Bridge {
  attempt: string;
  rpc: MessagePort;
  out: BroadcastChannel;
  close(): void;
}

/**
 * Leader election through the Web Lock `aun-leader:<base>`. The holder runs the owner in a
 * dedicated worker; every other tab bridges its two port ends over BroadcastChannel:
 * `…:leader` carries attaches and calls to the leader, `…:<tabId>` carries answers and events
 * to one tab, `…:all` announces a new leader.
 */
export class LeaderTransport implements Transport {
  readonly rung = 'leader';
  private leader: MessagePort | null = null;
  private readonly inbox: BroadcastChannel;
  private readonly announce: BroadcastChannel;
  private toLeader: BroadcastChannel | null = null;
  private readonly bridges = new Map<string, Bridge>();
  private pending: { msg: AttachMessage; attempt: string; timer: ReturnType<typeof setInterval> } | null = null;
  /** The follower side of the current link: frames from the leader for this attempt go to these ports. */
  private local: { attempt: string; rpc: MessagePort; events: MessagePort } | null = null;

  constructor(private readonly factory: (name: string) => Worker, private readonly name: string, private readonly base: string, private readonly tabId: string) {
    this.inbox = new BroadcastChannel(`aun-bus:${base}:${tabId}`);
    this.inbox.onmessage = (ev: MessageEvent<BusMessage>) => this.fromLeader(ev.data);
    this.announce = new BroadcastChannel(`aun-bus:${base}:all`);
    this.announce.onmessage = (ev: MessageEvent<BusMessage>) => {
      if (ev.data?.t === 'leader' && this.pending) this.sendAttach();
    };
    void navigator.locks.request(`aun-leader:${base}`, () => {
      this.lead();
      return new Promise<never>(() => {});
    });
  }

  get isLeader(): boolean {
    return this.leader !== null;
  }

  attach(msg: AttachMessage): void {
    this.cancel();
    if (this.leader) {
      this.leader.postMessage(msg, [msg.rpc, msg.events]);
      return;
    }
    const attempt = crypto.randomUUID();
    // This tab keeps the owner-side ends and relays them: calls out over the bus, frames back in.
    this.local = { attempt, rpc: msg.rpc, events: msg.events };
    msg.rpc.onmessage = (ev) => this.post({ t: 'rpc', from: this.tabId, attempt, data: ev.data });
    this.pending = { msg, attempt, timer: setInterval(() => this.sendAttach(), RESEND_MS) };
    this.sendAttach();
  }

  cancel(): void {
    if (this.pending) clearInterval(this.pending.timer);
    this.pending = null;
  }

  private post(m: BusMessage): void {
    this.toLeader ??= new BroadcastChannel(`aun-bus:${this.base}:leader`);
    this.toLeader.postMessage(m);
  }

  private sendAttach(): void {
    const p = this.pending;
    if (!p) return;
    const { rpc: _r, events: _e, ...head } = p.msg;
    this.post({ t: 'attach', from: this.tabId, attempt: p.attempt, head });
  }

  private fromLeader(m: BusMessage): void {
    if (m?.t !== 'frame' || !this.local || m.attempt !== this.local.attempt) return;
    // The first frame (hello) answers the attach: stop resending it.
    if (this.pending?.attempt === m.attempt) this.cancel();
    (m.ch === 'rpc' ? this.local.rpc : this.local.events).postMessage(m.data);
  }

  /** This tab won the election: start the owner, serve the followers, tell them. */
  private lead(): void {
    this.leader = connectTo(this.factory(this.name), 'leader');
    const bus = new BroadcastChannel(`aun-bus:${this.base}:leader`);
    bus.onmessage = (ev: MessageEvent<BusMessage>) => this.fromFollower(ev.data);
    // An attach of this tab still waiting for the old leader goes to the new owner directly.
    const p = this.pending;
    if (p) {
      this.cancel();
      p.msg.rpc.onmessage = null;
      this.local = null;
      this.leader.postMessage(p.msg, [p.msg.rpc, p.msg.events]);
    }
    this.announce.postMessage({ t: 'leader' } satisfies BusMessage);
  }

  private fromFollower(m: BusMessage): void {
    if (m?.t === 'rpc') {
      const b = this.bridges.get(m.from);
      if (b?.attempt === m.attempt) b.rpc.postMessage(m.data);
      return;
    }
    if (m?.t !== 'attach' || typeof m.from !== 'string' || typeof m.attempt !== 'string') return;
    const old = this.bridges.get(m.from);
    if (old?.attempt === m.attempt) return;
    old?.close();
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    const out = new BroadcastChannel(`aun-bus:${this.base}:${m.from}`);
    const relay = (ch: 'rpc' | 'events') => (ev: MessageEvent) => out.postMessage({ t: 'frame', attempt: m.attempt, ch, data: ev.data } satisfies BusMessage);
    rpc.port1.onmessage = relay('rpc');
    events.port1.onmessage = relay('events');
    const bridge: Bridge = {
      attempt: m.attempt,
      rpc: rpc.port1,
      out,
      close: () => {
        rpc.port1.close();
        events.port1.close();
        out.close();
        if (this.bridges.get(m.from) === bridge) this.bridges.delete(m.from);
      },
    };
    this.bridges.set(m.from, bridge);
    this.leader!.postMessage({ ...m.head, rpc: rpc.port2, events: events.port2 } satisfies AttachMessage, [rpc.port2, events.port2]);
    // The follower's own lock goes when it does: then its bridge goes too.
    if (m.head.tabLock) void navigator.locks.request(m.head.tabLock, () => bridge.close());
  }
}
