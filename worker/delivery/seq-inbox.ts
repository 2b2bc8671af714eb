// One seq namespace (a device's P2P inbox, a group's messages, a group's events): a
// contiguous-prefix cursor over the gateway's seq, pushes applied in order, gaps and reconnects
// filled by pulls, acks sent for the contiguous prefix. Each row is opened once, in seq order;
// `commit` makes the cursor past it (and whatever it produced) durable in one step, and only then
// is the result delivered: a crash in between redelivers nothing and loses nothing.

export interface SeqRow { seq: number }

export interface PullPage<R extends SeqRow> {
  rows: R[];
  hasMore: boolean;
  /** The gateway's ack cursor or retention floor: nothing below it will ever come. */
  floor: number;
}

export interface SeqInboxDeps<R extends SeqRow, D, L = D> {
  /** For log lines, e.g. `p2p:alice.aun.local`. */
  name: string;
  pull(afterSeq: number, limit: number): Promise<PullPage<R>>;
  ack(upToSeq: number): Promise<void>;
  loadCursor(): Promise<number>;
  /** Reads one row (decrypts it); null when there is nothing to hand out. Must not throw for a bad row: report it and return null. */
  open(row: R): Promise<D | null>;
  /**
   * Stores the cursor at `seq` and, in the same durable step, the item the row produced; returns
   * what to deliver (null: nothing, e.g. an item already seen).
   */
  commit(seq: number, item: D | null): Promise<L | null>;
  /** Runs after a commit that produced something (the commit itself publishes to the tabs). */
  delivered?(item: L): void;
  log?(line: string): void;
}

const PAGE = 50;
const MAX_PAGES = 1000;
const ACK_DELAY_MS = 100;

export class SeqInbox<R extends SeqRow, D, L = D> {
  private contiguous = 0;
  private loaded: Promise<void> | null = null;
  private readonly parked = new Map<number, R>();
  private pulling: Promise<void> | null = null;
  private pullAgain = false;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private acked = 0;
  private stopped = false;
  /** Serialises row handling so cursor writes and dispatch stay in seq order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SeqInboxDeps<R, D, L>) {}

  get cursor(): number {
    return this.contiguous;
  }

  private load(): Promise<void> {
    this.loaded ??= this.deps.loadCursor().then((c) => {
      this.contiguous = Math.max(this.contiguous, c);
      this.acked = Math.max(this.acked, c);
    });
    return this.loaded;
  }

  /** A pushed row: applied now if it is next, parked and pulled for if it leaves a gap. */
  push(row: R): Promise<void> {
    return this.enqueue(async () => {
      if (row.seq <= this.contiguous) return;
      if (row.seq === this.contiguous + 1) {
        await this.accept(row);
        await this.drainParked();
      } else {
        this.parked.set(row.seq, row);
        void this.catchUp();
      }
    });
  }

  /**
   * A seq this device produced itself (its own group message): nothing to show, but the cursor
   * may move over it so it is not mistaken for a gap.
   */
  skip(seq: number): Promise<void> {
    return this.enqueue(async () => {
      if (seq === this.contiguous + 1) {
        await this.advance(seq);
        await this.drainParked();
      }
    });
  }

  /** Pulls everything after the cursor (on ready, on gaps, on hints). Coalesces concurrent asks. */
  catchUp(): Promise<void> {
    if (this.pulling) {
      this.pullAgain = true;
      return this.pulling;
    }
    this.pulling = (async () => {
      try {
        do {
          this.pullAgain = false;
          await this.pullAll();
        } while (this.pullAgain && !this.stopped);
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  private async pullAll(): Promise<void> {
    await this.load();
    for (let page = 0; page < MAX_PAGES && !this.stopped; page++) {
      const res = await this.deps.pull(this.contiguous, PAGE);
      const rows = [...res.rows].sort((a, b) => a.seq - b.seq);
      await this.enqueue(async () => {
        // A pull from the cursor returns what exists: a hole before a returned row is permanent.
        for (const row of rows) if (row.seq > this.contiguous) await this.accept(row);
        if (res.floor > this.contiguous) await this.advance(res.floor);
        await this.drainParked();
      });
      if (!res.hasMore) return;
    }
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => this.load()).then(work);
    this.chain = next.catch((e: unknown) => this.deps.log?.(`${this.deps.name}: ${(e as Error).message}`));
    return next;
  }

  private async drainParked(): Promise<void> {
    for (const seq of [...this.parked.keys()]) if (seq <= this.contiguous) this.parked.delete(seq);
    let next = this.parked.get(this.contiguous + 1);
    while (next) {
      this.parked.delete(next.seq);
      await this.accept(next);
      next = this.parked.get(this.contiguous + 1);
    }
  }

  private async accept(row: R): Promise<void> {
    const item = await this.deps.open(row);
    const committed = await this.advance(row.seq, item);
    if (committed !== null) this.deps.delivered?.(committed);
  }

  private async advance(seq: number, item: D | null = null): Promise<L | null> {
    const committed = await this.deps.commit(seq, item);
    this.contiguous = seq;
    this.scheduleAck();
    return committed;
  }

  private scheduleAck(): void {
    if (this.ackTimer || this.stopped) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const upTo = this.contiguous;
      if (upTo <= this.acked) return;
      this.deps.ack(upTo).then(() => (this.acked = Math.max(this.acked, upTo)), () => {});
    }, ACK_DELAY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }
}
