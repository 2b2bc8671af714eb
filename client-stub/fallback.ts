// The fallback rungs (see ladder.ts), used where the shared rung cannot run or is forced off.
// `leader`: the tabs elect one leader through a Web Lock; it runs the owner in a dedicated
// worker, which serves the other tabs over BroadcastChannel (worker/hub/bus-bridge.ts).
// `single`: a dedicated worker in this tab only.

import { busChannel, CONNECT, DRAIN, DRAINED, RESIGN, type BusMessage, type ConnectMessage, type ResignMessage } from '../protocol/dedicated.ts';
import type { AttachMessage, BuildInfo, Rung } from '../protocol/tab.ts';
import type { Transport } from './ladder.ts';

function connectTo(worker: Worker, rung: Rung, bus?: string): MessagePort {
  const ch = new MessageChannel();
  worker.postMessage({ type: CONNECT, rung, ...(bus ? { bus } : {}) } satisfies ConnectMessage, [ch.port2]);
  return ch.port1;
}

/** The owner in a dedicated worker of this tab, used by this tab alone. */
export class SingleTransport implements Transport {
  readonly rung = 'single';
  #port: MessagePort | null = null;
  #worker: Worker | null = null;
  readonly #factory: (name: string) => Worker;
  readonly #name: string;

  constructor(factory: (name: string) => Worker, name: string) {
    this.#factory = factory;
    this.#name = name;
  }

  attach(msg: AttachMessage): void {
    this.#worker ??= this.#factory(this.#name);
    this.#port ??= connectTo(this.#worker, 'single');
    this.#port.postMessage(msg, [msg.rpc, msg.events]);
  }

  cancel(): void {}

  close(): void {
    this.#port?.close();
    this.#worker?.terminate();
    this.#port = null;
    this.#worker = null;
  }
}

const RESEND_MS = 250;
/**
 * A follower's sending end of the `leader` bus is closed after this long without a post. Open, it
 * is also a receiver: every other follower's attach and call would wake this tab too.
 */
const SEND_IDLE_MS = 1_000;
/** How long a leader that handed over keeps its drained owner, which still relays late answers. */
const RETIRE_GRACE_MS = 1_000;
/** A tab that asked this leader to resign takes the lock within this, or the leader lets it go. */
export const TAKEOVER_MS = 5_000;

/**
 * Leader election through the Web Lock `aun-leader:<base>`. The holder runs the owner in a
 * dedicated worker; every other tab bridges its two port ends over BroadcastChannel
 * (protocol/dedicated.ts, BusMessage) to that worker, which answers on the tab's own channel.
 */
export class LeaderTransport implements Transport {
  readonly rung = 'leader';
  #leader: MessagePort | null = null;
  #worker: Worker | null = null;
  #election = new AbortController();
  #resigning = false;
  #askedToLead = false;
  readonly #inbox: BroadcastChannel;
  readonly #announce: BroadcastChannel;
  #toLeader: BroadcastChannel | null = null;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #pending: { msg: AttachMessage; attempt: string; timer: ReturnType<typeof setInterval> } | null = null;
  /**
   * The follower side of this tab's links, by attempt: frames from the leader go to these ports.
   * The previous link is kept too, so answers to calls made on it still arrive during a handover.
   */
  readonly #locals = new Map<string, { rpc: MessagePort; events: MessagePort }>();

  readonly #factory: (name: string) => Worker;
  readonly #name: string;
  readonly #base: string;
  readonly #tabId: string;
  /** Whether a build is newer than this tab's (protocol/tab.ts isNewer, from the link). */
  readonly #newerThanMine: (build: BuildInfo) => boolean;

  constructor(factory: (name: string) => Worker, name: string, base: string, tabId: string, newerThanMine: (build: BuildInfo) => boolean) {
    this.#factory = factory;
    this.#name = name;
    this.#base = base;
    this.#tabId = tabId;
    this.#newerThanMine = newerThanMine;
    this.#inbox = this.#channel(tabId);
    this.#inbox.onmessage = (ev: MessageEvent<BusMessage>) => {
      if (ev.data?.t === 'resigned') this.#takeOver();
      else this.#fromLeader(ev.data);
    };
    this.#announce = this.#channel('all');
    this.#announce.onmessage = (ev: MessageEvent<BusMessage>) => {
      if (ev.data?.t === 'leader' && this.#pending) this.#sendAttach();
    };
    this.#elect();
  }

  /** Set by close(): lets the leader lock go. */
  #stepDown: (() => void) | null = null;
  #closed = false;

  /** Granted the leader lock: lead, and hold the lock for this tab's life (unless it is stolen or the tab leaves the rung). */
  readonly #holdLead = (): Promise<void> => {
    if (this.#closed) return Promise.resolve();
    this.#lead();
    return new Promise<void>((r) => (this.#stepDown = r));
  };

  /**
   * The tab leaves the leader rung (another owner holds its AID's session): it stops leading and
   * stops queueing for the lock. Its owner goes, so its followers elect another leader.
   */
  close(): void {
    this.#closed = true;
    this.cancel();
    this.#election.abort();
    this.#worker?.terminate();
    this.#worker = null;
    this.#leader?.close();
    this.#leader = null;
    this.#inbox.close();
    this.#announce.close();
    this.#closeSend();
    this.#stepDown?.();
  }

  /** Queues for the leader lock; held for this tab's life unless a newer build takes it. */
  #elect(): void {
    this.#election = new AbortController();
    navigator.locks.request(`aun-leader:${this.#base}`, { signal: this.#election.signal }, this.#holdLead).catch(() => {
      // Aborted (we take the lock by steal instead), or stolen by a newer build after a handover:
      // then this tab queues again, as a follower.
      if (this.#resigning && !this.#closed) {
        this.#resigning = false;
        this.#elect();
      }
    });
  }

  newerThanOwner(mine: BuildInfo): void {
    if (this.#leader || this.#askedToLead) return;
    this.#askedToLead = true;
    this.#post({ t: 'resign', from: this.#tabId, build: mine });
  }

  /** The old leader drained for us: take the lock from it and lead. */
  #takeOver(): void {
    if (this.#leader) return;
    this.#election.abort();
    void navigator.locks.request(`aun-leader:${this.#base}`, { steal: true }, this.#holdLead);
  }

  /**
   * A follower of a newer build asked: this tab stops leading at once (its own client re-attaches
   * as a follower), drains its owner, ends it and tells the newer tab to take the lock.
   */
  #resign(m: Pick<ResignMessage, 'from' | 'build'>): void {
    const port = this.#leader;
    const worker = this.#worker;
    const b = m.build as Partial<BuildInfo> | undefined;
    if (typeof m.from !== 'string' || typeof b?.protocol !== 'number' || typeof b.builtAt !== 'number') return;
    if (!port || !worker || this.#resigning || !this.#newerThanMine(m.build)) return;
    this.#resigning = true;
    this.#leader = null;
    this.#worker = null;
    worker.onmessage = (ev: MessageEvent) => {
      if ((ev.data as { type?: unknown } | null)?.type !== DRAINED) return;
      const out = this.#channel(m.from);
      out.postMessage({ t: 'resigned', to: m.from } satisfies BusMessage);
      out.close();
      // The drained owner lives a little longer, so answers still on their way through its
      // bridges arrive, and stragglers hear "not executed" (and go to the new leader).
      setTimeout(() => worker.terminate(), RETIRE_GRACE_MS);
      // Nobody took the lock (the asking tab closed meanwhile, or never was): let it go and queue
      // again, so the origin elects a leader instead of keeping one that owns nothing.
      setTimeout(() => {
        if (!this.#resigning || this.#closed) return;
        this.#resigning = false;
        this.#stepDown?.();
        this.#elect();
      }, TAKEOVER_MS);
    };
    worker.postMessage({ type: DRAIN });
  }

  get isLeader(): boolean {
    return this.#leader !== null;
  }

  attach(msg: AttachMessage): void {
    this.cancel();
    if (this.#leader) {
      this.#leader.postMessage(msg, [msg.rpc, msg.events]);
      return;
    }
    const attempt = crypto.randomUUID();
    // This tab keeps the owner-side ends and relays them: calls out over the bus, frames back in.
    this.#locals.set(attempt, { rpc: msg.rpc, events: msg.events });
    for (const old of [...this.#locals.keys()].slice(0, -2)) this.#locals.delete(old);
    msg.rpc.onmessage = (ev) => this.#post({ t: 'rpc', from: this.#tabId, attempt, data: ev.data });
    this.#pending = { msg, attempt, timer: setInterval(() => this.#sendAttach(), RESEND_MS) };
    this.#sendAttach();
  }

  cancel(): void {
    if (this.#pending) clearInterval(this.#pending.timer);
    this.#pending = null;
  }

  #channel(to: string): BroadcastChannel {
    return new BroadcastChannel(busChannel(this.#base, to));
  }

  #post(m: BusMessage): void {
    this.#toLeader ??= this.#channel('leader');
    this.#toLeader.postMessage(m);
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.#closeSend(), SEND_IDLE_MS);
  }

  #closeSend(): void {
    clearTimeout(this.#idle);
    this.#toLeader?.close();
    this.#toLeader = null;
  }

  #sendAttach(): void {
    const p = this.#pending;
    if (!p) return;
    const { rpc: _r, events: _e, ...head } = p.msg;
    this.#post({ t: 'attach', from: this.#tabId, attempt: p.attempt, head });
  }

  #fromLeader(m: BusMessage): void {
    const local = m?.t === 'frame' ? this.#locals.get(m.attempt) : undefined;
    if (!local || m.t !== 'frame') return;
    // The first frame (hello) answers the attach: stop resending it.
    if (this.#pending?.attempt === m.attempt) this.cancel();
    (m.ch === 'rpc' ? local.rpc : local.events).postMessage(m.data);
  }

  /** This tab won the election: start the owner, which serves the followers and tells them. */
  #lead(): void {
    if (this.#leader) return;
    const worker = (this.#worker = this.#factory(this.#name));
    this.#leader = connectTo(worker, 'leader', this.#base);
    worker.onmessage = (ev: MessageEvent) => {
      const m = ev.data as ResignMessage | null;
      if (m?.type === RESIGN) this.#resign(m);
    };
    // An attach of this tab still waiting for the old leader goes to the new owner directly.
    const p = this.#pending;
    if (p) {
      this.cancel();
      p.msg.rpc.onmessage = null;
      this.#locals.delete(p.attempt);
      this.#leader.postMessage(p.msg, [p.msg.rpc, p.msg.events]);
    }
  }
}
