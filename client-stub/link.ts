// The tab's link to its owner: attach (the hello handshake on the rung the ladder picked, the
// tab's lifetime lock), re-attach when the owner dies, follow a hand-over to a newer build's owner
// or a `moved` to the owner that holds this AID's session, and step down a rung when one cannot
// run here. What rides on a link (calls, events) is in calls.ts and events.ts.

import { AunError, ConnectionLostError, UpdateRequiredError } from '../protocol/errors.ts';
import {
  ATTACH, TAB_PROTOCOL, holderOf, isNewer, isNotExecuted, type AttachMessage, type BuildInfo, type OwnerAddress,
  type OwnerFacade, type OwnerFrame, type Rung, type SessionHolder,
} from '../protocol/tab.ts';
import type { ClientState, Events } from './events.ts';
import { SharedTransport, below, factoriesOf, hasLocks, probeRung, type Transport, type WorkerFactories, type WorkerOption } from './ladder.ts';
import { LeaderTransport, SingleTransport } from './fallback.ts';
import { remoteFacade } from './rpc.ts';

declare const __AUN_BUILD__: string | undefined;
declare const __AUN_BUILT_AT__: number | undefined;
const BUILD = typeof __AUN_BUILD__ === 'string' ? __AUN_BUILD__ : 'dev';
const BUILT_AT = typeof __AUN_BUILT_AT__ === 'number' ? __AUN_BUILT_AT__ : 0;
/**
 * A SharedWorker that says nothing within this long is slow, not broken (a cold start: its script,
 * IndexedDB, a loaded machine): the tab's state shows `connecting` while it keeps waiting. Only a
 * worker that cannot start (its constructor throws, its script fails to load) sends the tab down
 * a rung: a second owner started beside a slow one would fight it for the session.
 */
const SLOW_OWNER_MS = 4_000;
/** How long a tab waits for a SharedWorker's hello before it gives up on that attach (and tries again). */
const SHARED_HELLO_MS = 60_000;
const HELLO_TIMEOUT_MS = 10_000;

/** How many times a tab follows "another owner holds this AID's session" in a row. */
export const MAX_MOVES = 4;

export interface Link {
  facade: OwnerFacade;
  rpc: MessagePort;
  events: MessagePort;
  incarnation: string;
  build: string;
  rung: Rung;
}

/** What the link options of connect() are (see ConnectOptions). */
export interface LinkOptions {
  worker: WorkerOption;
  name?: string;
  build?: string;
  rung?: 'auto' | Rung;
}

/** What the link needs from the rest of the client. */
export interface LinkHost {
  /** Rejects the calls in flight (on `link` only, when given). */
  failPending(err: Error, link?: Link): void;
  /** After a (re-)attach: re-subscribe and log back in. */
  restore(link: Link): Promise<void>;
}

/** The `{protocol, build, builtAt}` of an owner's frame (hello, refused). */
const buildOf = (f: BuildInfo): BuildInfo => ({ protocol: f.protocol, build: f.build, builtAt: f.builtAt });

/** Lets go of a link's two ports (its owner is gone, or this tab left it). */
function closePorts(link: Link): void {
  link.events.onmessage = null;
  link.events.close();
  link.rpc.close();
}

export class Linker {
  link: Link | null = null;
  #linking: Promise<Link> | null = null;
  transport: Transport | null = null;
  update: { yours: BuildInfo; running: BuildInfo; refused: boolean } | null = null;
  /** Why this tab runs below the rung its browser first offered. */
  steppedDown: string | null = null;
  readonly #factories: WorkerFactories;
  readonly #build: BuildInfo;
  /** Set once the tab lock is granted: lets it go. */
  #releaseTabLock: (() => void) | null = null;
  #tabLockHeld: Promise<void> | null = null;
  #lastIncarnation: string | null = null;
  readonly #options: LinkOptions;
  readonly #tabId: string;
  readonly #s: ClientState;
  readonly #events: Events;
  readonly #host: LinkHost;

  constructor(options: LinkOptions, tabId: string, s: ClientState, events: Events, host: LinkHost) {
    this.#options = options;
    this.#tabId = tabId;
    this.#s = s;
    this.#events = events;
    this.#host = host;
    this.#factories = factoriesOf(options.worker);
    this.#build = { protocol: TAB_PROTOCOL, build: options.build ?? BUILD, builtAt: BUILT_AT };
  }

  #noteUpdate(u: { yours: BuildInfo; running: BuildInfo; refused: boolean }): void {
    this.update = u;
    this.#events.emit('update-required', u);
  }

  ensureLink(): Promise<Link> {
    if (this.link) return Promise.resolve(this.link);
    this.#linking ??= this.#attach().finally(() => (this.#linking = null));
    return this.#linking;
  }

  /**
   * Asks (once) for the lock this tab holds for its whole life; the owner learns the tab is gone
   * when it is released. Its name ('' without Web Locks); #tabLockHeld resolves once granted.
   */
  #requestTabLock(): string {
    if (!hasLocks()) return '';
    const name = `aun-tab:${this.#tabId}`;
    this.#tabLockHeld ??= new Promise<void>((granted) => {
      void navigator.locks.request(name, () => {
        granted();
        return new Promise<void>((release) => (this.#releaseTabLock = release));
      });
    });
    return name;
  }

  get #workerName(): string {
    return `${this.#options.name ?? 'aun-worker'}@${this.#build.build}`;
  }

  #makeTransport(rung: Rung): Transport {
    const f = this.#factories;
    if (rung === 'shared' && f.shared) return new SharedTransport(f.shared, this.#workerName);
    if (!f.dedicated) throw new AunError(`the ${rung} rung needs connect({worker: {dedicated}})`);
    if (rung === 'leader') return new LeaderTransport(f.dedicated, this.#workerName, this.#options.name ?? 'aun-worker', this.#tabId, (b) => isNewer(b, this.#build));
    return new SingleTransport(f.dedicated, this.#workerName);
  }

  /**
   * Attaches to the owner of this tab's rung; follows `moved` to a newer build's owner, and in
   * 'auto' mode steps down a rung when the SharedWorker cannot start or never answers.
   */
  async #attach(): Promise<Link> {
    const forced = this.#options.rung && this.#options.rung !== 'auto';
    let moves = 0;
    // The lock grant, the worker lookup and the attach run at once: the attach says the lock is
    // pending, and the owner (and a leader's bridge) watch it once the tab says it holds it.
    const tabLock = this.#requestTabLock();
    this.transport ??= this.#makeTransport(forced ? this.#options.rung as Rung : probeRung(this.#factories));
    this.transport.prepare?.();
    for (let hops = 0; ; hops++) {
      const transport = this.transport;
      try {
        return await this.#attachOnce(transport, tabLock, !forced && transport.rung === 'shared' && !this.#lastIncarnation);
      } catch (err) {
        const moved = (err as { moved?: OwnerAddress }).moved;
        if (moved && transport instanceof SharedTransport && hops < 4) {
          transport.target = moved;
          continue;
        }
        // Logging back in found the AID's session held by another owner: attach to that one.
        const holder = holderOf((err as AunError).data);
        if (holder && moves++ < MAX_MOVES) {
          await this.moveTo(holder);
          continue;
        }
        // The owner began handing over right after hello: attach to the next one.
        if (isNotExecuted((err as AunError).data) && hops < 4) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const next = !forced && (err as { probe?: boolean }).probe ? below(transport.rung, this.#factories) : null;
        if (!next) throw err;
        this.steppedDown = `${transport.rung} → ${next}: ${(err as Error).message}`;
        this.transport = this.#makeTransport(next);
      }
    }
  }

  /**
   * Leaves this owner for the one that holds the AID's session (whatever rung each runs on): a
   * SharedWorker by its address, or the leader tab's owner through the election. The next
   * attach goes there; the call that was turned away runs there.
   */
  async moveTo(holder: SessionHolder): Promise<void> {
    const link = this.link;
    if (link) {
      this.link = null;
      // The old owner forgets this tab now rather than when the tab closes.
      await Promise.race([link.facade.detach().catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
      this.#host.failPending(new ConnectionLostError('moved to the owner that holds the session'), link);
      closePorts(link);
    }
    const old = this.transport;
    if (holder.rung === 'shared' && holder.address && this.#factories.shared) {
      const shared = old instanceof SharedTransport ? old : new SharedTransport(this.#factories.shared, this.#workerName);
      shared.target = holder.address;
      if (shared !== old) old?.close?.();
      this.transport = shared;
    } else if (holder.rung === 'leader' && old?.rung !== 'leader') {
      old?.close?.();
      this.transport = this.#makeTransport('leader');
    }
    this.#events.noteSlowOwner();
  }

  async #attachOnce(transport: Transport, tabLock: string, probing: boolean): Promise<Link> {
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    const deadline = transport.rung === 'shared' ? SHARED_HELLO_MS : HELLO_TIMEOUT_MS;
    let lockPending = false;
    const hello = new Promise<Extract<OwnerFrame, { t: 'hello' }>>((resolve, reject) => {
      const failed = (err: Error, extra: object = {}) => {
        clearTimeout(timer);
        clearTimeout(slow);
        transport.cancel();
        events.port1.onmessage = null;
        reject(Object.assign(err, extra));
      };
      // A slow owner is waited for, never replaced: only a failure to start is a failed probe.
      const timer = setTimeout(() => failed(new ConnectionLostError(`no answer from the owner to the attach within ${deadline} ms`)), deadline);
      const slow = setTimeout(() => this.#events.noteSlowOwner(), SLOW_OWNER_MS);
      events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => {
        const f = ev.data;
        if (f.t === 'hello') {
          clearTimeout(timer);
          clearTimeout(slow);
          resolve(f);
        } else if (f.t === 'moved') {
          failed(new ConnectionLostError(`build ${f.to.build} runs the owner now`), { moved: f.to });
        } else if (f.t === 'unfit') {
          failed(new AunError(`the ${transport.rung} rung cannot run in this browser: ${f.reason}`), { probe: true });
        } else if (f.t === 'refused') {
          this.#noteUpdate({ yours: this.#build, running: buildOf(f), refused: true });
          failed(new UpdateRequiredError(`the owner (build ${f.build}) cannot serve this tab: ${f.reason}; reload the page`));
        }
      };
      lockPending = tabLock !== '' && !this.#releaseTabLock;
      const msg: AttachMessage = { type: ATTACH, tabId: this.#tabId, tabLock, lockPending, ...this.#build, eventsText: true, rpc: rpc.port2, events: events.port2 };
      try {
        transport.attach(msg, (err) => failed(err, { probe: probing }));
      } catch (err) {
        failed(err instanceof Error ? err : new AunError(String(err)), { probe: probing });
      }
    });
    const h = await hello;
    const previous = this.#lastIncarnation;
    const link: Link = { facade: remoteFacade(rpc.port1), rpc: rpc.port1, events: events.port1, incarnation: h.incarnation, build: h.build, rung: h.rung };
    events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => this.#onFrame(link, ev.data);
    this.link = link;
    this.#lastIncarnation = h.incarnation;
    if (h.ownerLock && hasLocks()) this.#watchOwner(link, h.ownerLock);
    // The owner watches our lock only once told we hold it (it may have been granted meanwhile).
    if (lockPending) void this.#tabLockHeld?.then(() => link.facade.lockHeld()).catch(() => {});
    // A newer tab under an older leader asks it to hand over (shared owners do this themselves).
    if (isNewer(this.#build, h)) transport.newerThanOwner?.(this.#build);
    if (isNewer(h, this.#build)) this.#noteUpdate({ yours: this.#build, running: buildOf(h), refused: false });
    try {
      await this.#host.restore(link);
    } catch (err) {
      // Turned away unrun by an owner that is handing over: this link is done, the next one waits.
      if (isNotExecuted((err as AunError).data) && this.link === link) this.#dropLink();
      throw err;
    }
    this.#events.emit('owner', { incarnation: h.incarnation, previous, build: h.build, rung: h.rung });
    return link;
  }

  #watchOwner(link: Link, ownerLock: string): void {
    void navigator.locks.request(ownerLock, () => {
      // Calls still waiting on that owner will never be answered.
      this.#host.failPending(new ConnectionLostError('the owner stopped; re-attaching'), link);
      if (this.link !== link || this.#s.closed) {
        closePorts(link);
        return;
      }
      this.#dropLink();
      void this.ensureLink().catch(() => {});
    });
  }

  #dropLink(): void {
    const link = this.link;
    this.link = null;
    if (link) closePorts(link);
  }

  /** The client is closed: let go of the owner and of this tab's lock. */
  close(): void {
    this.#dropLink();
    this.#releaseTabLock?.();
  }

  /**
   * The owner hands over to a newer build: new calls wait for the next owner, while the calls in
   * flight are still answered here (the old ports stay open until that owner is gone).
   */
  #handOver(link: Link, to: OwnerAddress | null): void {
    if (this.link !== link) return;
    this.link = null;
    if (to && this.transport instanceof SharedTransport) this.transport.target = to;
    void this.ensureLink().catch(() => {});
  }

  #onFrame(link: Link, frame: OwnerFrame): void {
    if (typeof frame !== 'object' || frame === null) return;
    if (frame.t === 'draining' || frame.t === 'moved') {
      this.#handOver(link, frame.to);
      return;
    }
    if (this.link === link) this.#events.onFrame(frame);
  }
}
