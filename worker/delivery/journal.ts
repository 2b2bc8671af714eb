// The local event log of one AID: every message, group change and undecryptable notice the
// worker hands to tabs gets an lsn, is stored in IndexedDB together with the cursor that moved
// past it, and only then is published. Commits that arrive while one is being written are
// batched into the next transaction, and each batch is published in lsn order; a tab that
// attached late, reloaded or outlived an owner asks for everything after the last lsn it saw and
// gets exactly what it missed.

import type { LogPage, LoggedEventName, TabEventMap } from '../../protocol/tab.ts';

export interface LoggedInput<E extends LoggedEventName = LoggedEventName> {
  name: E;
  /** Dedup key: an input whose key is already in the log is dropped (a replay, a resend). */
  key: string;
  data: TabEventMap[E];
  /**
   * The E2EE dedupe key (`dedupeKey` of the envelope's AAD) that opening the row marked as seen;
   * not stored. If the run is not committed, the key is released so the row opens again when
   * it is pulled again.
   */
  seen?: string;
}

export interface LoggedEvent<E extends LoggedEventName = LoggedEventName> {
  lsn: number;
  name: E;
  data: TabEventMap[E];
}

/** The keystore surface the journal needs (worker/store's Store satisfies it). */
export interface JournalStore {
  log: {
    commit(aid: string, cursor: { ns: string; seq: number }[] | null, inputs: { key: string; kind: string; data: unknown }[]): Promise<({ lsn: number; kind: string; data: unknown } | null)[]>;
    since(aid: string, afterLsn: number, limit: number): Promise<{ lsn: number; kind: string; data: unknown }[]>;
    last(aid: string): Promise<number>;
    prune(aid: string, keep: number): Promise<number>;
  };
}

/** Entries kept per AID: the history a new tab can replay, and the window that dedups by key. */
export const LOG_KEEP = 20_000;
const PRUNE_EVERY = 1_000;
/** At most this many commits share one transaction. */
const MAX_BATCH = 256;

interface Pending {
  cursor: { ns: string; seq: number } | null;
  inputs: (LoggedInput | null)[];
  resolve(events: (LoggedEvent | null)[]): void;
  reject(err: unknown): void;
}

export class Journal {
  private last = 0;
  private loaded: Promise<void> | null = null;
  private readonly pending: Pending[] = [];
  private writing = false;
  private sincePrune = 0;

  constructor(
    private readonly aid: string,
    private readonly store: JournalStore,
    /** Called once per committed transaction, with its new events in lsn order. */
    private readonly publish: (events: LoggedEvent[]) => void,
    private readonly log?: (line: string) => void,
  ) {}

  get lastLsn(): number {
    return this.last;
  }

  load(): Promise<void> {
    this.loaded ??= this.store.log.last(this.aid).then((n) => {
      this.last = Math.max(this.last, n);
    });
    return this.loaded;
  }

  /**
   * Durably moves `cursor` and appends `inputs` (a run of one namespace) in one step, batched with
   * the commits that arrive meanwhile, then publishes them; resolves, per input, the logged event
   * or null when there was nothing new. A run is never split: all of it is written, or none.
   */
  commit(cursor: { ns: string; seq: number } | null, inputs: (LoggedInput | null)[]): Promise<(LoggedEvent | null)[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ cursor, inputs, resolve, reject });
      void this.write();
    });
  }

  /** One input, no cursor: something this device did itself (a message it sent). */
  async record(input: LoggedInput): Promise<LoggedEvent | null> {
    return (await this.commit(null, [input]))[0] ?? null;
  }

  private async write(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      await this.load();
      while (this.pending.length > 0) {
        const batch: Pending[] = [];
        let size = 0;
        while (this.pending.length > 0 && (batch.length === 0 || size + this.pending[0]!.inputs.length <= MAX_BATCH)) {
          const p = this.pending.shift()!;
          size += p.inputs.length;
          batch.push(p);
        }
        // Per namespace the cursors arrive in seq order: the last one is where it stands.
        const cursors = new Map<string, { ns: string; seq: number }>();
        for (const p of batch) if (p.cursor) cursors.set(p.cursor.ns, p.cursor);
        const flat = batch.flatMap((p) => p.inputs.filter((i): i is LoggedInput => i !== null));
        let entries: ({ lsn: number } | null)[];
        try {
          entries = await this.store.log.commit(this.aid, [...cursors.values()], flat.map((i) => ({ key: i.key, kind: i.name, data: i.data })));
        } catch (err) {
          // Nothing after a failed batch may land: a later cursor would jump over its rows.
          for (const p of [...batch, ...this.pending.splice(0)]) p.reject(err);
          return;
        }
        let k = 0;
        const published: LoggedEvent[] = [];
        const results = batch.map((p) => p.inputs.map((input): LoggedEvent | null => {
          if (input === null) return null;
          const entry = entries[k++];
          if (!entry) return null;
          this.last = Math.max(this.last, entry.lsn);
          const event: LoggedEvent = { lsn: entry.lsn, name: input.name, data: input.data };
          published.push(event);
          return event;
        }));
        // The whole transaction in one call: the hub posts it to each tab as one frame.
        if (published.length) this.publish(published);
        batch.forEach((p, i) => p.resolve(results[i]!));
        this.sincePrune += flat.length;
        if (this.sincePrune >= PRUNE_EVERY) {
          this.sincePrune = 0;
          void this.store.log.prune(this.aid, LOG_KEEP).catch((e: unknown) => this.log?.(`log prune: ${(e as Error).message}`));
        }
      }
    } catch (err) {
      for (const p of this.pending.splice(0)) p.reject(err);
    } finally {
      this.writing = false;
    }
  }

  /** Resolves once every commit handed in so far is written (or failed). */
  async idle(): Promise<void> {
    while (this.writing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Logged events after `afterLsn`, for a tab catching up. */
  async since(afterLsn: number, limit: number): Promise<LogPage> {
    await this.load();
    const rows = await this.store.log.since(this.aid, afterLsn, limit);
    return { events: rows.map((r) => ({ lsn: r.lsn, name: r.kind as LoggedEventName, data: r.data as TabEventMap[LoggedEventName] })), lastLsn: this.last };
  }
}
