// Sends not yet acknowledged by the gateway, kept in IndexedDB: a send issued while disconnected,
// or cut off by a dropped socket or a killed worker, goes out again with the same message_id
// (the gateway dedups) once a session is ready. Sends leave strictly in the order they were
// made, one at a time: a new message never overtakes an older one still waiting, so the
// gateway's seq, which every receiver orders by, follows the order the sender wrote in.

import { AunError, ConnectionLostError, ErrorCode, RateLimitError, SessionError, TimeoutError } from '../../protocol/errors.ts';
import { type JsonObject } from '../../protocol/frames.ts';
import { DEFAULT_DEADLINE_MS, QUEUED_MARGIN_MS } from '../../protocol/deadline.ts';

/** What is stored: enough to (re-)encrypt and send again under the same message id. */
export interface OutboxBody {
  /** P2P recipient or group id. */
  to: string;
  payload: JsonObject;
  encrypt: boolean;
}

export interface OutboxEntry {
  id: string;
  kind: 'p2p' | 'group';
  body: OutboxBody;
  createdAt: number;
  attempts: number;
  /**
   * Set by submit(): the order it was made in, one more than any entry stored for this AID, so a
   * restart sends them in that order even when two share a millisecond or the clock stepped
   * back. Rows stored before it existed have none (the store puts them first).
   */
  seq?: number;
}

export interface OutboxStore {
  outbox: {
    put(aid: string, item: OutboxEntry): Promise<void>;
    list(aid: string): Promise<{ id: string; kind: string; body: unknown; createdAt: number; attempts: number; seq?: number }[]>;
    remove(aid: string, id: string): Promise<void>;
  };
}

export interface OutboxDeps<R> {
  aid: string;
  store: OutboxStore;
  /** One attempt; throws on failure. */
  send(entry: OutboxEntry, timeoutMs?: number): Promise<R>;
  /** The gateway took it: publish it to the tabs, once. */
  sent(entry: OutboxEntry, result: R): Promise<void>;
  /** The gateway refused, for good, a message the app was already told is queued: tell the tabs. */
  failed(entry: OutboxEntry, err: unknown): void;
  log?(line: string): void;
}

/** Failures a later attempt can cure: no connection, no answer, slow down. */
export function isTransient(err: unknown): boolean {
  return err instanceof ConnectionLostError || err instanceof TimeoutError || err instanceof SessionError
    || err instanceof RateLimitError || (err instanceof AunError && err.retryable);
}

const RETRY_MS = 2_000;

interface Waiting<R> {
  entry: OutboxEntry;
  /** Nobody awaits the answer any more (the app was told `queued`, or a previous worker made it). */
  detached: boolean;
  /** A withdraw() is removing it from the store: it is not sent, and nothing behind it overtakes it. */
  withdrawing?: boolean;
  /** Settles when the entry leaves the outbox: its result, or the refusal. */
  settle: { resolve(r: R): void; reject(e: unknown): void };
  done: Promise<R>;
}

export class Outbox<R> {
  /** Entries in send order; the head is the only one ever in flight. */
  private readonly queue: Waiting<R>[] = [];
  private pumping: Promise<void> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private loaded: Promise<void> | null = null;
  /** Set by abandon(): why nothing can be sent now; a failed attempt is then final. Cleared by flush(). */
  private lost: unknown = null;
  /** Set by stop(), for good: the account is closed. */
  private stopped = false;
  /** The pump stopped at an entry being withdrawn; release() starts it again. */
  private held = false;
  /** Ids of rows that left the queue but that the store refused to remove: removed again on the next pump. */
  private readonly unremoved = new Set<string>();
  /** The seq the next submitted entry gets; set past the stored ones by load(). */
  private nextSeq = 1;

  constructor(private readonly deps: OutboxDeps<R>) {}

  private waiting(entry: OutboxEntry, detached: boolean): Waiting<R> {
    let settle!: Waiting<R>['settle'];
    const done = new Promise<R>((resolve, reject) => (settle = { resolve, reject }));
    // A detached entry's refusal is reported through `failed`, not through this promise.
    done.catch(() => {});
    return { entry, detached, settle, done };
  }

  /**
   * Stores the message and queues it behind any older one; resolves with the gateway's answer
   * if it comes within `timeoutMs`, else with null while it stays queued. A refusal throws.
   */
  async submit(entry: OutboxEntry, timeoutMs = DEFAULT_DEADLINE_MS): Promise<R | null> {
    await this.load();
    // Refused before it is stored: nothing is lost, and nothing waits in an outbox nobody drains.
    if (this.stopped) throw new SessionError(`the session of ${this.deps.aid} is closed: log in again to send`, ErrorCode.ConnectRequired);
    const queued = { ...entry, seq: this.nextSeq++ };
    await this.deps.store.outbox.put(this.deps.aid, queued);
    const w = this.waiting(queued, false);
    this.queue.push(w);
    void this.pump(timeoutMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, timeoutMs - QUEUED_MARGIN_MS))));
    try {
      const result = await Promise.race([w.done, late]);
      if (result === null) w.detached = true;
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Takes a queued message back before it reaches the gateway (a recall): true when it was
   * queued and not in flight; its sender sees `withdrawn` as the refusal.
   */
  async withdraw(id: string, withdrawn: Error): Promise<boolean> {
    await this.load();
    const i = this.queue.findIndex((w) => w.entry.id === id);
    if (i < 0 || (i === 0 && this.pumping !== null) || this.stopped) return false;
    const w = this.queue[i]!;
    if (w.withdrawing) return false;
    // The store first: if it refuses, the recall fails and the entry stays queued here as it stays
    // stored, instead of being sent by the next worker after this one forgot it. Meanwhile the
    // pump holds at it (a recalled message must not go out while it is being taken back).
    w.withdrawing = true;
    try {
      await this.deps.store.outbox.remove(this.deps.aid, id);
    } finally {
      w.withdrawing = false;
      this.release();
    }
    this.drop(w);
    w.settle.reject(withdrawn);
    return true;
  }

  /** True while an entry is on its way to the gateway. */
  get busy(): boolean {
    return this.pumping !== null;
  }

  /** Sends everything still queued, oldest first (on every ready). */
  async flush(): Promise<void> {
    this.lost = null;
    await this.load();
    await this.pump();
  }

  /**
   * The session is lost for good (another connection took the identity over): nothing here will
   * be sent, so every waiting entry is dropped and reported (`failed`, or the waiting call
   * rejects), never left in an outbox nobody drains, until the next flush (a takeover's ready).
   */
  async abandon(err: unknown): Promise<void> {
    if (this.stopped) return;
    this.lost = err;
    await this.load();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    // The attempt in flight settles itself: sent if it got through, else reported like the rest.
    for (const w of this.queue.splice(this.pumping ? 1 : 0)) {
      await this.forget(w.entry.id);
      this.deps.log?.(`outbox ${w.entry.id}: abandoned: ${(err as Error).message}`);
      if (w.detached) this.deps.failed(w.entry, err);
      w.settle.reject(err);
    }
  }

  /**
   * The account is closed (logout, removeIdentity, the end of a handoff): nothing more is sent
   * or written, and the retry stops. Its closed session answers every attempt with a transient
   * SessionError, so a running outbox would retry for ever and write its entries back into the
   * store after the next login's outbox had sent and removed them. What is queued stays stored,
   * as it is, for the next outbox of this AID. The attempt in flight, if any, still settles on a
   * real answer (got through: its row removed, its record made; refused for good: reported), and
   * on no answer is left as stored, without a retry. Waiting senders are not rejected, because
   * their message is not refused: submit() answers `queued` at its deadline, which stays true.
   * Later sends are refused with a SessionError; flush() and abandon() do nothing; withdraw()
   * finds nothing.
   */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  /** Entries a previous worker left behind go first, in the order they were made. */
  private load(): Promise<void> {
    this.loaded ??= this.loadStored();
    return this.loaded;
  }

  private async loadStored(): Promise<void> {
    const known = new Set(this.queue.map((w) => w.entry.id));
    const stored = (await this.deps.store.outbox.list(this.deps.aid)).filter((i) => !known.has(i.id));
    for (const item of stored) this.nextSeq = Math.max(this.nextSeq, (item.seq ?? 0) + 1);
    this.queue.unshift(...stored.map((item) => this.waiting(item as OutboxEntry, true)));
  }

  private pump(timeoutMs?: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.pumping ??= this.drain(timeoutMs).finally(() => (this.pumping = null));
    return this.pumping;
  }

  private async drain(timeoutMs?: number): Promise<void> {
    for (const id of this.unremoved) await this.forget(id);
    while (this.queue.length > 0 && !this.stopped) {
      const head = this.queue[0]!;
      // Being taken back: neither sent nor overtaken until withdraw() knows (it calls release()).
      if (head.withdrawing) {
        this.held = true;
        return;
      }
      let result: R;
      try {
        result = await this.deps.send(head.entry, timeoutMs);
      } catch (err) {
        if (isTransient(err) && this.lost === null) return this.later(head);
        await this.refused(head, isTransient(err) && this.lost !== null ? this.lost : err);
        continue;
      }
      await this.accepted(head, result);
    }
  }

  /**
   * The gateway took the entry: it is sent, whatever the bookkeeping after it does, so its sender
   * gets the gateway's result and no other entry is touched. The head stays first in the queue
   * until this is done: withdraw() and abandon() leave the head alone while a pump runs.
   */
  private async accepted(head: Waiting<R>, result: R): Promise<void> {
    await this.forget(head.entry.id);
    try {
      await this.deps.sent(head.entry, result);
    } catch (err) {
      // Not retried: the record is the local copy (for the other tabs and the log) of a message
      // the gateway has, and its sender hears the result below. What fails it (a quota, a
      // closed database) is rarely cured within this worker's life, and waiting for it here
      // would hold every send behind a local write.
      this.deps.log?.(`outbox ${head.entry.id}: sent, but not recorded in the local log: ${(err as Error).message}`);
    }
    this.drop(head);
    head.settle.resolve(result);
  }

  /** The gateway refused for good (or the session is lost): the entry leaves the outbox, reported. */
  private async refused(head: Waiting<R>, reason: unknown): Promise<void> {
    await this.forget(head.entry.id);
    this.drop(head);
    this.deps.log?.(`outbox ${head.entry.id}: refused: ${(reason as Error).message}`);
    if (head.detached) this.deps.failed(head.entry, reason);
    head.settle.reject(reason);
  }

  /** No answer that counts (no connection, no answer, slow down): the entry waits for a later attempt. */
  private async later(head: Waiting<R>): Promise<void> {
    // A stopped outbox writes nothing: the entry as stored belongs to the next owner of this AID.
    if (this.stopped) return;
    head.entry = { ...head.entry, attempts: head.entry.attempts + 1 };
    await this.deps.store.outbox.put(this.deps.aid, head.entry).catch(() => {});
    if (this.stopped) return;
    // The next ready flushes too; this covers a session that never went down (a lost answer).
    this.retry ??= setTimeout(() => {
      this.retry = null;
      void this.pump();
    }, RETRY_MS);
  }

  /**
   * Removes a row that left the outbox. A removal the store refuses is logged and tried again at
   * the start of the next pump (a send, a flush on every ready): a row left behind is sent again
   * by the next worker, which the gateway drops by message id, but a second attempt is better
   * than counting on that.
   */
  private async forget(id: string): Promise<void> {
    try {
      await this.deps.store.outbox.remove(this.deps.aid, id);
      this.unremoved.delete(id);
    } catch (err) {
      this.unremoved.add(id);
      this.deps.log?.(`outbox ${id}: left the queue, but its stored row could not be removed (tried again on the next pump): ${(err as Error).message}`);
    }
  }

  /** A withdraw that held the pump at its entry is over: the pump goes on from there, once it has ended. */
  private release(): void {
    if (!this.held) return;
    this.held = false;
    void (this.pumping ?? Promise.resolve()).then(() => this.pump());
  }

  /** Takes this one entry out of the queue, wherever it is now, and no other. */
  private drop(w: Waiting<R>): void {
    const i = this.queue.indexOf(w);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
