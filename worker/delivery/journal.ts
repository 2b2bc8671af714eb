// The local event log of one AID: every message, group change and undecryptable notice the
// worker hands to tabs gets an lsn, is stored in IndexedDB together with the cursor that moved
// past it, and only then is published. Commits run one at a time so lsns reach the tabs in
// order; a tab that attached late, reloaded or outlived an owner asks for everything after the
// last lsn it saw and gets exactly what it missed.

import type { LogPage, LoggedEventName, TabEventMap } from '../../protocol/index.ts';

export interface LoggedInput<E extends LoggedEventName = LoggedEventName> {
  name: E;
  /** Dedup key: an input whose key is already in the log is dropped (a replay, a resend). */
  key: string;
  data: TabEventMap[E];
}

export interface LoggedEvent<E extends LoggedEventName = LoggedEventName> {
  lsn: number;
  name: E;
  data: TabEventMap[E];
}

/** The keystore surface the journal needs (worker/store's Store satisfies it). */
export interface JournalStore {
  log: {
    commit(aid: string, cursor: { ns: string; seq: number } | null, inputs: { key: string; kind: string; data: unknown }[]): Promise<({ lsn: number; kind: string; data: unknown } | null)[]>;
    since(aid: string, afterLsn: number, limit: number): Promise<{ lsn: number; kind: string; data: unknown }[]>;
    last(aid: string): Promise<number>;
    prune(aid: string, keep: number): Promise<number>;
  };
}

/** Entries kept per AID: the history a new tab can replay, and the window that dedups by key. */
export const LOG_KEEP = 20_000;
const PRUNE_EVERY = 1_000;

export class Journal {
  private last = 0;
  private loaded: Promise<void> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private sincePrune = 0;

  constructor(
    private readonly aid: string,
    private readonly store: JournalStore,
    private readonly publish: (event: LoggedEvent) => void,
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
   * Durably moves `cursor` and appends `input` in one step, then publishes it; returns the logged
   * event, or null when there was nothing new to hand out.
   */
  commit(cursor: { ns: string; seq: number } | null, input: LoggedInput | null): Promise<LoggedEvent | null> {
    const run = async (): Promise<LoggedEvent | null> => {
      await this.load();
      const [entry] = await this.store.log.commit(this.aid, cursor, input ? [{ key: input.key, kind: input.name, data: input.data }] : []);
      if (!entry || !input) return null;
      this.last = Math.max(this.last, entry.lsn);
      const event: LoggedEvent = { lsn: entry.lsn, name: input.name, data: input.data };
      this.publish(event);
      if (++this.sincePrune >= PRUNE_EVERY) {
        this.sincePrune = 0;
        void this.store.log.prune(this.aid, LOG_KEEP).catch((e: unknown) => this.log?.(`log prune: ${(e as Error).message}`));
      }
      return event;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Logged events after `afterLsn`, for a tab catching up. */
  async since(afterLsn: number, limit: number): Promise<LogPage> {
    await this.load();
    const rows = await this.store.log.since(this.aid, afterLsn, limit);
    return { events: rows.map((r) => ({ lsn: r.lsn, name: r.kind as LoggedEventName, data: r.data as TabEventMap[LoggedEventName] })), lastLsn: this.last };
  }
}
