import { describe, expect, it, vi } from 'vitest';
import { PULL_AHEAD, SeqInbox, type PullPage } from '../../../worker/delivery/seq-inbox.ts';

type Row = { seq: number; text: string };

/** A fake gateway namespace: rows by seq, an ack cursor, and an inbox wired to it. */
function setup(opts: { stored?: number; rows?: number[]; floor?: number; open?: (r: Row) => Promise<Row | null> } = {}) {
  const server = new Map<number, Row>((opts.rows ?? []).map((s) => [s, { seq: s, text: `m${s}` }]));
  const delivered: number[] = [];
  const saved: number[] = [];
  const acks: number[] = [];
  const pulls: number[] = [];
  let stored = opts.stored ?? 0;
  const inbox = new SeqInbox<Row, Row>({
    name: 'test',
    async pull(after, limit): Promise<PullPage<Row>> {
      pulls.push(after);
      const rows = [...server.values()].filter((r) => r.seq > after).sort((a, b) => a.seq - b.seq);
      return { rows: rows.slice(0, limit), hasMore: rows.length > limit, floor: opts.floor ?? 0 };
    },
    async ack(upTo) {
      acks.push(upTo);
    },
    loadCursor: async () => stored,
    async commit(seq, items) {
      stored = seq;
      saved.push(seq);
      return items;
    },
    open: opts.open ?? (async (r) => r),
    delivered: (r) => delivered.push(r.seq),
  });
  const add = (seq: number) => {
    const row = { seq, text: `m${seq}` };
    server.set(seq, row);
    return row;
  };
  return { inbox, server, delivered, saved, acks, pulls, add, stored: () => stored };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

describe('SeqInbox', () => {
  it('delivers what hints point at in order, once, and a hint at or below the cursor costs no pull', async () => {
    const t = setup();
    t.add(1);
    await t.inbox.hint(1);
    t.add(2);
    await t.inbox.hint(2);
    await t.inbox.hint(2);
    await t.inbox.hint(1);
    expect(t.delivered).toEqual([1, 2]);
    expect(t.inbox.cursor).toBe(2);
    expect(t.pulls).toEqual([0, 1]);
  });

  it('a hint past a gap pulls from the cursor and delivers the gap and the row in seq order', async () => {
    const t = setup({ rows: [1, 2, 3] });
    t.add(4);
    await t.inbox.hint(4);
    expect(t.delivered).toEqual([1, 2, 3, 4]);
    expect(t.pulls[0]).toBe(0);
  });

  it('catches up from the stored cursor across pages after a restart', async () => {
    const rows = Array.from({ length: 120 }, (_, i) => i + 1);
    const t = setup({ stored: 30, rows });
    await t.inbox.catchUp();
    expect(t.delivered).toEqual(rows.slice(30));
    expect(t.pulls).toEqual([30, 80]);
    expect(t.stored()).toBe(120);
  });

  it('stores the cursor past a row before handing the row out', async () => {
    const order: string[] = [];
    const t = setup();
    const inbox = new SeqInbox<Row, Row>({
      name: 'order',
      pull: async (after) => ({ rows: [...t.server.values()].filter((r) => r.seq > after), hasMore: false, floor: 0 }),
      ack: async () => {},
      loadCursor: async () => 0,
      commit: async (s, items) => {
        order.push(`save ${s}`);
        return items;
      },
      open: async (r) => r,
      delivered: (r) => void order.push(`deliver ${r.seq}`),
    });
    t.add(1);
    await inbox.catchUp();
    expect(order).toEqual(['save 1', 'deliver 1']);
  });

  it('a row that cannot be read still moves the cursor, so it never blocks the next', async () => {
    const t = setup({ open: async (r) => (r.seq === 2 ? null : r) });
    for (const s of [1, 2, 3]) t.add(s);
    await t.inbox.hint(3);
    expect(t.delivered).toEqual([1, 3]);
    expect(t.inbox.cursor).toBe(3);
  });

  it('jumps to the server floor when older rows are gone', async () => {
    const t = setup({ floor: 10 });
    await t.inbox.catchUp();
    expect(t.inbox.cursor).toBe(10);
    t.add(11);
    await t.inbox.hint(11);
    expect(t.delivered).toEqual([11]);
  });

  it('skips its own seq without delivering it', async () => {
    const t = setup();
    t.add(1);
    await t.inbox.hint(1);
    await t.inbox.skip(2);
    expect(t.inbox.cursor).toBe(2);
    t.add(3);
    await t.inbox.hint(3);
    expect(t.delivered).toEqual([1, 3]);
    expect(t.pulls).toEqual([0, 2]);
  });

  it('an own seq (from a buggy answer) far past the cursor is not kept: the cursor never waits on it', async () => {
    const t = setup({ stored: 5 });
    await t.inbox.skip(5 + 10_001);
    await t.inbox.skip(Number.NaN);
    await t.inbox.skip(6);
    expect(t.inbox.cursor).toBe(6);
    t.add(7);
    await t.inbox.hint(7);
    expect(t.delivered).toEqual([7]);
    expect(t.inbox.cursor).toBe(7);
  });

  it('acks the contiguous prefix once per burst', async () => {
    const t = setup();
    for (let s = 1; s <= 20; s++) {
      t.add(s);
      await t.inbox.hint(s);
    }
    await settle();
    expect(t.acks).toEqual([20]);
  });

  it('coalesces concurrent catch-ups into at most one extra pass', async () => {
    const t = setup({ rows: [1, 2] });
    const spy = vi.fn();
    await Promise.all([t.inbox.catchUp().then(spy), t.inbox.catchUp().then(spy), t.inbox.catchUp().then(spy)]);
    expect(spy).toHaveBeenCalledTimes(3);
    expect(t.pulls.length).toBeLessThanOrEqual(2);
    expect(t.delivered).toEqual([1, 2]);
  });

  it('after stop() it no longer acks', async () => {
    const t = setup();
    t.add(1);
    await t.inbox.hint(1);
    t.inbox.stop();
    await settle();
    expect(t.acks).toEqual([]);
  });

  it(`pulls ahead while a page is being committed, at most ${PULL_AHEAD} pages, and lands what came in meanwhile as one commit`, async () => {
    const server = Array.from({ length: PULL_AHEAD * 50 + 100 }, (_, i) => ({ seq: i + 1, text: `m${i + 1}` }));
    const pulls: number[] = [];
    const commits: number[] = [];
    const release: (() => void)[] = [];
    const shown: number[] = [];
    const inbox = new SeqInbox<Row, Row>({
      name: 'pipelined',
      async pull(after, limit) {
        await new Promise((r) => setTimeout(r, 1));
        pulls.push(after);
        const rows = server.filter((r) => r.seq > after);
        return { rows: rows.slice(0, limit), hasMore: rows.length > limit, floor: 0 };
      },
      ack: async () => {},
      loadCursor: async () => 0,
      commit: (seq, items) => new Promise((resolve) => {
        commits.push(seq);
        release.push(() => resolve(items));
      }),
      open: async (r) => r,
      delivered: (r) => shown.push(r.seq),
    });
    const done = inbox.catchUp();
    // While the first page's commit is pending, PULL_AHEAD - 1 more pages come in, and no more.
    const ahead = Array.from({ length: PULL_AHEAD }, (_, i) => i * 50);
    await vi.waitFor(() => expect(pulls).toEqual(ahead));
    await settle();
    expect(pulls).toEqual(ahead);
    expect(commits).toEqual([50]);
    expect(shown).toEqual([]);
    // Once it landed, the pages that waited land together.
    release.shift()!();
    await vi.waitFor(() => expect(commits).toEqual([50, PULL_AHEAD * 50]));
    expect(shown).toEqual(server.slice(0, 50).map((r) => r.seq));
    while (inbox.cursor < server.length) {
      await vi.waitFor(() => expect(release.length).toBeGreaterThan(0));
      release.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    await done;
    expect(shown).toEqual(server.map((r) => r.seq));
    expect(pulls.slice(0, PULL_AHEAD + 1)).toEqual([...ahead, PULL_AHEAD * 50]);
    expect(commits.at(-1)).toBe(server.length);
  });

  it('a page pulled ahead never lands when the page before it failed to commit', async () => {
    const server = Array.from({ length: 100 }, (_, i) => ({ seq: i + 1, text: `m${i + 1}` }));
    let stored = 0;
    let fail = true;
    let commitStarted!: () => void;
    const started = new Promise<void>((resolve) => (commitStarted = resolve));
    const shown: number[] = [];
    const inbox = new SeqInbox<Row, Row>({
      name: 'failing',
      async pull(after, limit) {
        // The second page comes in while the first one's commit runs: it lands on its own.
        if (after > 0 && fail) await started;
        const rows = server.filter((r) => r.seq > after);
        return { rows: rows.slice(0, limit), hasMore: rows.length > limit, floor: 0 };
      },
      ack: async () => {},
      loadCursor: async () => stored,
      async commit(seq, items) {
        // The first commit fails (a quota error); the second would succeed on its own.
        if (fail) {
          commitStarted();
          await new Promise((r) => setTimeout(r, 20));
          fail = false;
          throw new Error('quota');
        }
        stored = seq;
        return items;
      },
      open: async (r) => r,
      delivered: (r) => shown.push(r.seq),
    });
    await expect(inbox.catchUp()).rejects.toThrow('quota');
    await settle();
    expect(stored).toBe(0);
    expect(inbox.cursor).toBe(0);
    expect(shown).toEqual([]);
    await inbox.catchUp();
    expect(shown).toEqual(server.map((r) => r.seq));
    expect(stored).toBe(100);
  });

  it('a crash between receiving and committing redelivers after restart, exactly once', async () => {
    const server = new Map([1, 2, 3].map((seq) => [seq, { seq, text: `m${seq}` }]));
    let stored = 0;
    const shown: number[] = [];
    const boot = (crashAt: number | null) => new SeqInbox<Row, Row>({
      name: 'crash',
      pull: async (after) => ({ rows: [...server.values()].filter((r) => r.seq > after), hasMore: false, floor: 0 }),
      ack: async () => {},
      loadCursor: async () => stored,
      async commit(seq, items) {
        if (crashAt !== null && seq >= crashAt) throw new Error('worker killed before the commit finished');
        stored = seq;
        return items;
      },
      open: async (r) => r,
      delivered: (r) => shown.push(r.seq),
    });
    // The pulled run 1..3 dies before its commit: nothing shown, the stored cursor unmoved.
    await boot(2).catchUp().catch(() => {});
    expect(shown).toEqual([]);
    expect(stored).toBe(0);
    await boot(null).catchUp();
    expect(shown).toEqual([1, 2, 3]);
  });
});

/**
 * Pages asked for before the previous answer is in: once a page comes back full, as far as the
 * pushes said rows exist. A fake gateway that answers each pull only when told, and counts how
 * many are open at once.
 */
describe('SeqInbox: pages asked for ahead of the answers', () => {
  function gateway(seqs: number[], cap = 50) {
    const server = seqs.map((seq) => ({ seq, text: `m${seq}` }));
    const pulls: number[] = [];
    const shown: number[] = [];
    let open = 0;
    let maxOpen = 0;
    const inbox = new SeqInbox<Row, Row>({
      name: 'ahead',
      async pull(after, limit) {
        pulls.push(after);
        maxOpen = Math.max(maxOpen, ++open);
        await new Promise((r) => setTimeout(r, 3));
        open--;
        const rows = server.filter((r) => r.seq > after);
        const n = Math.min(limit, cap);
        return { rows: rows.slice(0, n), hasMore: rows.length > n, floor: 0 };
      },
      ack: async () => {},
      loadCursor: async () => 0,
      commit: async (_seq, items) => items,
      open: async (r) => r,
      delivered: (r) => shown.push(r.seq),
    });
    return { inbox, pulls, shown, maxOpen: () => maxOpen };
  }
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('with pushes naming seqs far past a full page, several pulls are open at once; every row lands once, in order', async () => {
    const t = gateway(range(1, 400));
    await t.inbox.hint(400);
    expect(t.shown).toEqual(range(1, 400));
    expect(t.maxOpen()).toBeGreaterThan(1);
    expect(t.maxOpen()).toBeLessThanOrEqual(PULL_AHEAD);
    expect(t.inbox.cursor).toBe(400);
  });

  it('without such a push, the pages go one at a time', async () => {
    const t = gateway(range(1, 400));
    await t.inbox.catchUp();
    expect(t.shown).toEqual(range(1, 400));
    expect(t.maxOpen()).toBe(1);
  });

  it('holes in the seqs and a gateway whose pages are smaller than asked: every row once, in order, nothing skipped', async () => {
    const seqs = [...range(1, 30), ...range(45, 120), ...range(200, 260), 999];
    for (const cap of [50, 20, 7]) {
      const t = gateway(seqs, cap);
      await t.inbox.hint(999);
      expect(t.shown).toEqual(seqs);
      expect(t.inbox.cursor).toBe(999);
    }
  });

  it('a push naming a far seq over a full page costs a few pulls at most, once', async () => {
    const t = gateway(range(1, 50));
    await t.inbox.hint(1e9);
    expect(t.shown).toEqual(range(1, 50));
    expect(t.pulls.length).toBeLessThanOrEqual(PULL_AHEAD + 1);
    const before = t.pulls.length;
    await t.inbox.catchUp();
    expect(t.pulls.length).toBe(before + 1);
  });

  it('the pages asked for ahead that came in during a commit land together, in the next commit', async () => {
    const server = range(1, 400).map((seq) => ({ seq, text: `m${seq}` }));
    const commits: number[][] = [];
    const release: (() => void)[] = [];
    const inbox = new SeqInbox<Row, Row>({
      name: 'batched',
      async pull(after, limit) {
        const rows = server.filter((r) => r.seq > after);
        return { rows: rows.slice(0, limit), hasMore: rows.length > limit, floor: 0 };
      },
      ack: async () => {},
      loadCursor: async () => 0,
      commit: (seq, items) => new Promise((resolve) => {
        commits.push([items.length, seq]);
        release.push(() => resolve(items));
      }),
      open: async (r) => r,
    });
    const done = inbox.hint(400);
    await vi.waitFor(() => expect(commits).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    release.shift()!();
    await vi.waitFor(() => expect(commits).toHaveLength(2));
    // Everything read while the first run was being committed, as one run.
    expect(commits[1]![0]).toBe(400 - commits[0]![0]!);
    while (inbox.cursor < 400) {
      await vi.waitFor(() => expect(release.length).toBeGreaterThan(0));
      release.shift()!();
      await new Promise((r) => setTimeout(r, 2));
    }
    await done;
    expect(commits.reduce((n, [k]) => n + k!, 0)).toBe(400);
  });
});
