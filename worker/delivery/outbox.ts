// Sends not yet acknowledged by the gateway, kept in IndexedDB: a send issued while disconnected,
// or cut off by a dropped socket or a killed worker, goes out again with the same message_id
// (the gateway dedups) once a session is ready. Items leave the outbox only on an answer.

import {
  AunError, ConnectionLostError, RateLimitError, SessionError, TimeoutError, type JsonObject,
} from '../../protocol/index.ts';

/** What is stored: enough to (re-)encrypt and send again under the same message id. */
export interface OutboxBody {
  /** P2P recipient or group id. */
  to: string;
  payload: JsonObject;
  encrypt: boolean;
}

export interface OutboxEntry { id: string; kind: 'p2p' | 'group'; body: OutboxBody; createdAt: number; attempts: number }

export interface OutboxStore {
  outbox: {
    put(aid: string, item: OutboxEntry): Promise<void>;
    list(aid: string): Promise<{ id: string; kind: string; body: unknown; createdAt: number; attempts: number }[]>;
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
  /** The gateway refused it for good: tell the tabs. */
  failed(entry: OutboxEntry, err: unknown): void;
  log?(line: string): void;
}

/** Failures a later attempt can cure: no connection, no answer, slow down. */
export function isTransient(err: unknown): boolean {
  return err instanceof ConnectionLostError || err instanceof TimeoutError || err instanceof SessionError
    || err instanceof RateLimitError || (err instanceof AunError && err.retryable);
}

const DEFAULT_DEADLINE_MS = 35_000;
/** The owner answers a little before the tab's own deadline, so `queued` wins the race. */
const DEADLINE_MARGIN_MS = 150;
const RETRY_MS = 2_000;

export class Outbox<R> {
  private flushing: Promise<void> | null = null;
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: OutboxDeps<R>) {}

  /**
   * Stores the message, then tries to send it within `timeoutMs`: resolves with the gateway's
   * answer, or with null when it stays queued for a later flush. A definitive refusal throws.
   */
  async submit(entry: OutboxEntry, timeoutMs = DEFAULT_DEADLINE_MS): Promise<R | null> {
    await this.deps.store.outbox.put(this.deps.aid, entry);
    // Answer within the caller's deadline; a slower attempt goes on and settles the entry itself.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, timeoutMs - DEADLINE_MARGIN_MS))));
    try {
      const outcome = await Promise.race([this.attempt(entry, timeoutMs), late]);
      return outcome?.sent ? outcome.result : null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `busy`: another attempt at the same message is under way. */
  private async attempt(entry: OutboxEntry, timeoutMs?: number): Promise<{ sent: true; result: R } | { sent: false; busy: boolean }> {
    if (this.inFlight.has(entry.id)) return { sent: false, busy: true };
    this.inFlight.add(entry.id);
    try {
      const result = await this.deps.send(entry, timeoutMs);
      await this.deps.store.outbox.remove(this.deps.aid, entry.id);
      await this.deps.sent(entry, result);
      return { sent: true, result };
    } catch (err) {
      if (isTransient(err)) {
        await this.deps.store.outbox.put(this.deps.aid, { ...entry, attempts: entry.attempts + 1 }).catch(() => {});
        // The next ready flushes too; this covers a session that never went down (a lost answer).
        setTimeout(() => void this.flush().catch(() => {}), RETRY_MS);
        return { sent: false, busy: false };
      }
      await this.deps.store.outbox.remove(this.deps.aid, entry.id).catch(() => {});
      throw err;
    } finally {
      this.inFlight.delete(entry.id);
    }
  }

  /** Sends everything still queued, oldest first (on every ready). */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        for (const item of await this.deps.store.outbox.list(this.deps.aid)) {
          const entry = item as OutboxEntry;
          try {
            const outcome = await this.attempt(entry);
            // Still no connection: the rest waits for the next ready.
            if (!outcome.sent && !outcome.busy) return;
          } catch (err) {
            this.deps.log?.(`outbox ${entry.id}: refused: ${(err as Error).message}`);
            this.deps.failed(entry, err);
          }
        }
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }
}
