// One seq namespace (a device's P2P inbox, a group's messages, a group's events): a
// contiguous-prefix cursor over the gateway's seq, filled by pulls only, acks sent for the
// contiguous prefix. A push is a hint that something new may sit past the cursor: it costs at most
// one pull (and its seq how far later pages may be asked for ahead) and never supplies a row, so the gateway's stored sequence alone says what sits at a
// seq (see docs/security-model.md). Rows are opened once, in seq order, in runs; `commit` makes
// the cursor past a run and whatever it produced durable in one step, and only then is it
// delivered: a crash in between redelivers nothing and loses nothing.

export interface SeqRow { seq: number }

export interface PullPage<R extends SeqRow> {
  rows: R[];
  hasMore: boolean;
  /** The gateway's ack cursor or retention floor: nothing below it will ever come. */
  floor: number;
}

/** A page as pulled: the rows past `from` (where the pull started), in seq order, and the floor. */
interface PulledPage<R extends SeqRow> {
  from: number;
  rows: R[];
  floor: number;
}

export interface SeqInboxDeps<R extends SeqRow, D, L = D> {
  /** For log lines, e.g. `p2p:alice.aun.local`. */
  name: string;
  pull(afterSeq: number, limit: number): Promise<PullPage<R>>;
  ack(upToSeq: number): Promise<void>;
  /**
   * Resolves once the commits made so far are on disk (Store.sync): an ack waits for it, since
   * the gateway serves acked rows no more and a commit that a power loss undid would lose them.
   */
  durable?(): Promise<void>;
  loadCursor(): Promise<number>;
  /**
   * Reads one row (decrypts it); null when there is nothing to hand out. A bad row is reported
   * (its notice, or null), never thrown. A failure that may pass (the keystore refused a read, a
   * certificate fetch failed) may throw: the run does not land and is opened again later. `final`
   * says the row has failed that way for OPEN_GIVE_UP_MS: this open must not throw, so one row
   * cannot hold up the ones after it for longer.
   */
  open(row: R, final: boolean): Promise<D | null>;
  /**
   * Stores the cursor at `seq` and, in the same durable step (all or nothing), the items a run of
   * rows produced; returns, per item, what was delivered (null: nothing, e.g. already seen).
   */
  commit(seq: number, items: (D | null)[]): Promise<(L | null)[]>;
  /**
   * Whether opening this row reads what the rows before it commit (a recall notice redacts its
   * originals in the log): the rows of the run before it are committed first.
   */
  readsLog?(row: R): boolean;
  /** Runs after a commit that produced something (the commit itself publishes to the tabs). */
  delivered?(item: L): void;
  /**
   * A run's opened items when its commit failed: what open() took for them (an E2EE message id
   * marked as seen) is released, since the rows are pulled and opened again. (A row whose open
   * throws takes nothing, and the rows opened before it are committed without it.)
   */
  abandon?(items: (D | null)[]): void;
  log?(line: string): void;
}

const PAGE = 50;
const MAX_PAGES = 1000;
/** Pages pulled and not landed yet, at most: what came in during one commit lands in the next. */
export const PULL_AHEAD = 8;
const ACK_DELAY_MS = 100;
/** A pass that failed (a pull, an open or a commit) is tried again after this, doubling each time. */
export const RETRY_FIRST_MS = 1_000;
export const RETRY_MAX_MS = 60_000;
/** A row whose open keeps throwing is opened one last time, as `final`, once this has passed since its first failure. */
export const OPEN_GIVE_UP_MS = 120_000;
/** Own seqs (from the gateway's answers to our sends) are remembered this far past the cursor at most. */
export const SKIP_WINDOW = 10_000;

export class SeqInbox<R extends SeqRow, D, L = D> {
  private contiguous = 0;
  private loaded: Promise<void> | null = null;
  /** Own seqs waiting for the cursor to reach them. */
  private readonly skipped = new Set<number>();
  private pulling: Promise<void> | null = null;
  private pullAgain = false;
  /** The highest seq the pushes named since the last pull round: how far pages may be asked ahead. */
  private hinted = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private acked = 0;
  private stopped = false;
  /** Serialises row handling so cursor writes and dispatch stay in seq order. */
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Passes failed in a row: how long the next retry waits. */
  private failures = 0;
  /** Since when (Date.now()) rows that throw have held the inbox up; null while none does. */
  private stuckSince: number | null = null;

  constructor(private readonly deps: SeqInboxDeps<R, D, L>) {}

  get cursor(): number {
    return this.contiguous;
  }

  private load(): Promise<void> {
    this.loaded ??= this.deps.loadCursor().then(
      (c) => {
        this.contiguous = Math.max(this.contiguous, c);
        this.acked = Math.max(this.acked, c);
      },
      (err: unknown) => {
        this.loaded = null; // read again by the next pass, not refused for good
        throw err;
      },
    );
    return this.loaded;
  }

  /**
   * A push said something new may sit at `seq` (unknown when the push had none, or a bad one).
   * The push's content is never used: a seq at or below the cursor costs nothing, anything else
   * one pull from the cursor (coalesced with the pulls in flight), whatever the seq claims. The
   * seq only says how far later pages may be asked for ahead once a page comes back full (see
   * pullAll). Never rejects.
   */
  hint(seq?: unknown): Promise<void> {
    if (typeof seq === 'number' && Number.isSafeInteger(seq)) {
      if (seq <= this.contiguous) return Promise.resolve();
      this.hinted = Math.max(this.hinted, seq);
    }
    return this.catchUp().catch((e: unknown) => this.deps.log?.(`${this.deps.name}: pull after a push: ${(e as Error).message}`));
  }

  /**
   * A seq this device produced itself (its own group message, as the gateway's answer to the
   * send says): nothing to show, but the cursor may move over it so it is not mistaken for a gap.
   */
  skip(seq: number): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq <= this.contiguous) return Promise.resolve();
    return this.enqueue(async () => {
      // Judged against the loaded cursor: a seq far past it is left to the pulls.
      if (seq <= this.contiguous || seq > this.contiguous + SKIP_WINDOW) return;
      this.skipped.add(seq);
      await this.drain();
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
        this.failures = 0;
      } catch (err) {
        // The rows of a pass that failed are still past the cursor: the next push or ready pulls
        // them, and so does this timer, should neither come (a sender gone quiet).
        this.retryLater();
        throw err;
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  private retryLater(): void {
    if (this.stopped || this.retryTimer) return;
    const wait = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.catchUp().catch((e: unknown) => this.deps.log?.(`${this.deps.name}: pull retried after a failure: ${(e as Error).message}`));
    }, wait);
  }

  /**
   * Pulls page after page from the cursor. The next pages are asked for while the earlier ones are
   * opened and committed (from where those take the cursor), PULL_AHEAD pages at most; the pages
   * that came in meanwhile land together, as one run (one commit). A page lands only if every page
   * before it did, so a failed commit never lets a later page jump the cursor over rows it did not
   * store.
   *
   * Once a page comes back full, the pages after it are asked for at once, without waiting for
   * each answer, as far as the pushes said rows exist (`hinted`), one page's seq span apart. Such a
   * page is read only if the pages before it reach its start; otherwise it is dropped and asked for
   * again from where they end. A forged far-ahead push costs nothing here by itself (the first page
   * must come back full) and a few pulls at most after a full page.
   */
  private async pullAll(): Promise<void> {
    await this.load();
    const waiting: PulledPage<R>[] = [];
    const landings: Promise<void>[] = [];
    const asked: { from: number; page: Promise<PullPage<R>> }[] = [];
    const ask = (from: number) => {
      const page = this.deps.pull(from, PAGE);
      page.catch(() => {}); // awaited below, or dropped unread
      asked.push({ from, page });
    };
    let failed = false;
    /** Pages read whose landing has not finished. */
    let unlanded = 0;
    /** Where the pages read so far take the cursor. */
    let next = this.contiguous;
    ask(next);
    try {
      for (let n = 0; n < MAX_PAGES && asked.length > 0 && !this.stopped && !failed; n++) {
        const { from, page } = asked.shift()!;
        const res = await page;
        const rows = usableRows<R>(res.rows, from);
        const floor = Number.isSafeInteger(res.floor) ? res.floor : 0;
        waiting.push({ from, rows, floor });
        const landing = this.enqueue(() => this.land(waiting.splice(0)));
        unlanded++;
        landing.then(() => unlanded--, () => { unlanded--; failed = true; });
        landings.push(landing);
        // Where this page takes the cursor. A page that moves nothing would come back the same:
        // `hasMore` alone must not spin.
        const end = Math.max(from, rows.at(-1)?.seq ?? 0, floor);
        if (res.hasMore !== true || end === from) break;
        next = Math.max(end, next);
        if (asked.length > 0 && asked[0]!.from > next) asked.length = 0; // overshot: holes before it
        // Pages asked for already are read first (they are in memory once answered), so the pages
        // that came in during a commit land together in the next. New pages are asked for only
        // while fewer than PULL_AHEAD are asked for or read and not landed.
        if (asked.length > 0) continue;
        while (unlanded >= PULL_AHEAD) await landings.shift();
        if (failed || this.stopped) break;
        ask(next);
        for (let at = next + (end - from); unlanded + asked.length < PULL_AHEAD && at < this.hinted; at += end - from) ask(at);
      }
    } finally {
      for (const landing of landings.splice(0)) await landing;
      this.hinted = 0;
    }
  }

  /**
   * Opens and commits pulled pages (consecutive, in order) as one run. Nothing lands when the
   * cursor did not reach the first page's start: a page before it failed to land.
   */
  private async land(pages: PulledPage<R>[]): Promise<void> {
    if (pages.length === 0 || this.contiguous < pages[0]!.from) return;
    const run: { seq: number; row?: R }[] = [];
    let cursor = this.contiguous;
    for (const [i, p] of pages.entries()) {
      // Own seqs that continue the cursor, as drain() moves over them between pages.
      if (i > 0) for (; this.skipped.delete(cursor + 1); cursor++) run.push({ seq: cursor + 1 });
      // A pull from the cursor returns what exists: a hole before a returned row is permanent.
      for (const row of p.rows) {
        if (row.seq <= cursor) continue;
        run.push({ seq: row.seq, row });
        cursor = row.seq;
      }
      if (p.floor > cursor) {
        run.push({ seq: p.floor });
        cursor = p.floor;
      }
    }
    await this.acceptRun(run);
    await this.drain();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => this.load()).then(work);
    this.chain = next.catch((e: unknown) => this.deps.log?.(`${this.deps.name}: ${(e as Error).message}`));
    return next;
  }

  /** Moves the cursor over own seqs that continue it; the rest wait for the pulls to fill in. */
  private async drain(): Promise<void> {
    for (const seq of [...this.skipped]) if (seq <= this.contiguous) this.skipped.delete(seq);
    const run: { seq: number }[] = [];
    for (let seq = this.contiguous + 1; this.skipped.delete(seq); seq++) run.push({ seq });
    await this.acceptRun(run);
  }

  /**
   * Opens the rows one by one (in seq order), then commits them together: the journal writes a
   * run in one transaction, and only then are they delivered.
   */
  private async acceptRun(run: { seq: number; row?: R }[]): Promise<void> {
    let items: (D | null)[] = [];
    let last = 0;
    let failure: { err: unknown } | null = null;
    for (const r of run) {
      if (r.row && items.length > 0 && this.deps.readsLog?.(r.row)) {
        await this.commitRun(last, items);
        items = [];
      }
      try {
        items.push(r.row ? await this.openRow(r.row) : null);
        last = r.seq;
      } catch (err) {
        // A row that may open later (see SeqInboxDeps.open): the rows before it land now.
        failure = { err };
        break;
      }
    }
    if (items.length > 0) await this.commitRun(last, items);
    if (failure) throw failure.err;
  }

  private async commitRun(last: number, items: (D | null)[]): Promise<void> {
    let committed: (L | null)[];
    try {
      committed = await this.deps.commit(last, items);
    } catch (err) {
      // Nothing of the run landed: what its rows took when opened is given back.
      this.deps.abandon?.(items);
      throw err;
    }
    this.contiguous = Math.max(this.contiguous, last);
    this.scheduleAck();
    for (const c of committed) if (c !== null) this.deps.delivered?.(c);
  }

  /**
   * Opens a row. Once the inbox has been held up by rows that throw for OPEN_GIVE_UP_MS (no row
   * opened normally since the first of them threw), rows are opened as `final` until one opens
   * normally again: a sender whose certificate cannot be fetched costs its messages that long
   * once, not each message in turn.
   */
  private async openRow(row: R): Promise<D | null> {
    const final = this.stuckSince !== null && Date.now() - this.stuckSince >= OPEN_GIVE_UP_MS;
    try {
      const item = await this.deps.open(row, final);
      if (!final) this.stuckSince = null;
      return item;
    } catch (err) {
      this.stuckSince ??= Date.now();
      throw err;
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer || this.stopped) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const upTo = this.contiguous;
      if (upTo <= this.acked) return;
      Promise.resolve(this.deps.durable?.())
        .then(() => this.deps.ack(upTo))
        .then(() => (this.acked = Math.max(this.acked, upTo)), () => {});
    }, ACK_DELAY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}

/**
 * The rows of a page that can take a seq past `after`: a safe-integer seq, first copy of each,
 * in seq order. Anything else in a page is the gateway's error and is left out.
 */
function usableRows<R extends SeqRow>(rows: unknown, after: number): R[] {
  if (!Array.isArray(rows)) return [];
  const bySeq = new Map<number, R>();
  for (const r of rows as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const seq = (r as SeqRow).seq;
    if (Number.isSafeInteger(seq) && seq > after && !bySeq.has(seq)) bySeq.set(seq, r as R);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
