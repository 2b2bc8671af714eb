// Issue 6: the fallback ladder. Each rung, forced through the demo's `?rung=`, runs the same
// suite: several tabs, one long connection per AID, every message in every tab exactly once;
// then the owner dies mid-traffic (worker killed through CDP, creator tab closed, leader tab
// closed) and nothing is lost or doubled.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { Session } from '../support/aun-client.ts';
import { adminPost, expectExactlyOnce, longConnections, openSender, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ tokenTtl: 3600 });
});
afterAll(() => stack?.close());

let n = 0;
const newAid = () => `rung${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;

const sender = () => openSender(stack.gateway, newAid());

const longOf = async (aid: string) => (await longConnections(stack, aid)).length;
const rungOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { aun: { rung: string | null } }).aun.rung);
const incarnationOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { aun: { incarnation: string | null } }).aun.incarnation);
const isLeader = (page: Page) => page.evaluate(() => Boolean((globalThis as unknown as { aun: { linker?: { transport?: { isLeader?: boolean } } } }).aun.linker?.transport?.isLeader));

/** Sends `count` messages `label-0…` paced `everyMs` apart; resolves when all were accepted. */
async function traffic(s: Session, to: string, label: string, count: number, everyMs: number): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    const text = `${label}-${i}`;
    await s.call('message.send', { to, payload: { type: 'text', text } });
    sent.push(text);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

/** Watches, in the page, for the next owner (a new incarnation) and for a call rejected on the way. */
async function armFailoverProbe(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as {
      aun: { call(m: string, p: unknown): Promise<unknown>; on(e: string, h: (d: unknown) => void): () => void };
      probe: { rejected?: string; rejectedAt?: number; ownerAt?: number };
    };
    g.probe = {};
    const off = g.aun.on('owner', () => {
      g.probe.ownerAt ??= performance.now();
      off();
    });
    g.aun.call('meta.ping', {}).then(() => (g.probe.rejected = 'resolved'), (e: Error) => {
      g.probe.rejected = e.name;
      g.probe.rejectedAt = performance.now();
    });
  });
}

const probeOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { probe: { rejected?: string; rejectedAt?: number; ownerAt?: number } }).probe);

for (const rung of ['shared', 'leader', 'single'] as const) {
  describe(`rung ${rung}`, () => {
    const count = rung === 'single' ? 1 : 4;
    let ctx: BrowserContext;
    let aid: string;
    let tabs: Page[];

    beforeAll(async () => {
      ctx = await stack.browser.newContext();
      aid = newAid();
      tabs = [];
      for (let i = 0; i < count; i++) tabs.push(await openTab(ctx, stack, aid, { rung }));
    });
    afterAll(() => ctx?.close());

    it(`${count} tab(s) run on the ${rung} rung, share one long connection, and get every message once`, async () => {
      for (const t of tabs) expect(await rungOf(t)).toBe(rung);
      if (rung === 'leader') expect((await Promise.all(tabs.map(isLeader))).filter(Boolean)).toHaveLength(1);
      const incarnations = new Set(await Promise.all(tabs.map(incarnationOf)));
      expect(incarnations.size).toBe(1);
      expect(await longOf(aid)).toBe(1);
      const s = await sender();
      const sent = await traffic(s, aid, `${rung}-steady`, 20, 0);
      await expectExactlyOnce(tabs, sent);
      expect(await longOf(aid)).toBe(1);
      s.close();
    });

    if (rung === 'single') {
      it('says so: the owner reports the single rung, and another tab gets its own owner', async () => {
        const inspector = await ctx.newPage();
        await inspector.goto(`${stack.appUrl}/inspector.html?rung=single&gateway=${encodeURIComponent(stack.gateway.url)}`);
        await inspector.waitForSelector('body[data-ready="1"]');
        expect(await inspector.textContent('#owner')).toContain('rung single');
        expect(await incarnationOf(inspector)).not.toBe(await incarnationOf(tabs[0]!));
        await inspector.close();
      });
      return;
    }

    if (rung === 'shared') {
      it('closing the tab that created the SharedWorker changes nothing for the others', async () => {
        const before = await incarnationOf(tabs[1]!);
        await tabs.shift()!.close();
        const s = await sender();
        const sent = await traffic(s, aid, 'after-creator', 10, 0);
        await expectExactlyOnce(tabs, sent);
        for (const t of tabs) expect(await incarnationOf(t)).toBe(before);
        expect(await longOf(aid)).toBe(1);
        s.close();
      });
    }

    it('the owner dies mid-traffic: the call in flight rejects at once, a new owner takes over, nothing is lost or doubled', async () => {
      const s = await sender();
      const leaders = await Promise.all(tabs.map(isLeader));
      const victim = rung === 'leader' ? leaders.indexOf(true) : -1;
      if (rung === 'leader') expect(victim).toBeGreaterThanOrEqual(0);
      const prober = tabs.find((_, i) => i !== victim)!;
      const before = await incarnationOf(prober);
      const flow = traffic(s, aid, `${rung}-failover`, 40, 25);
      await new Promise((r) => setTimeout(r, 300));
      // Every gateway write now waits 300 ms: the probe's call is surely in flight at the kill.
      await adminPost(stack, 'delay', { ms: 300 });
      await armFailoverProbe(prober);
      await new Promise((r) => setTimeout(r, 50));
      const killedAt = await prober.evaluate(() => performance.now());
      if (rung === 'shared') {
        const cdp = await stack.browser.newBrowserCDPSession();
        const { targetInfos } = await cdp.send('Target.getTargets') as { targetInfos: { targetId: string; type: string }[] };
        const worker = targetInfos.find((t) => t.type === 'shared_worker');
        expect(worker).toBeTruthy();
        await cdp.send('Target.closeTarget', { targetId: worker!.targetId });
        await cdp.detach();
      } else {
        await tabs[victim]!.close();
        tabs.splice(victim, 1);
      }
      const probe = await until('the call rejected and a new owner up', async () => {
        const p = await probeOf(prober);
        return p.rejected && p.ownerAt ? p : undefined;
      }, 10_000);
      await adminPost(stack, 'delay', { ms: 0 });
      expect(probe.rejected).toBe('ConnectionLostError');
      console.log(`${rung}: call rejected ${(probe.rejectedAt! - killedAt).toFixed(1)} ms, new owner ${(probe.ownerAt! - killedAt).toFixed(1)} ms after the kill`);
      // "At once": on the owner's death, not on the call's deadline (DEFAULT_DEADLINE_MS). The
      // figure itself is a benchmark's business; this bound only keeps the two apart, with room
      // for a loaded machine (measured 40–170 ms with other work on the 2 cores).
      expect(probe.rejectedAt! - killedAt).toBeLessThan(1000);
      expect(probe.ownerAt! - killedAt).toBeLessThan(1000);
      const sent = await flow;
      await expectExactlyOnce(tabs, sent);
      const after = new Set(await Promise.all(tabs.map(incarnationOf)));
      expect(after.size).toBe(1);
      expect(after.has(before)).toBe(false);
      if (rung === 'leader') expect((await Promise.all(tabs.map(isLeader))).filter(Boolean)).toHaveLength(1);
      await until('one long connection', async () => (await longOf(aid)) === 1);
      s.close();
    });
  });
}

describe('capability probes (no ?rung)', () => {
  it('without SharedWorker the tabs elect a leader; without Web Locks too, each tab runs alone', async () => {
    const aid = newAid();
    const noShared = await stack.browser.newContext();
    await noShared.addInitScript(() => {
      delete (globalThis as { SharedWorker?: unknown }).SharedWorker;
    });
    const open = (ctx: BrowserContext, as = aid) => openTab(ctx, stack, as);
    const a = await open(noShared);
    const b = await open(noShared);
    expect([await rungOf(a), await rungOf(b)]).toEqual(['leader', 'leader']);
    expect(await incarnationOf(a)).toBe(await incarnationOf(b));
    await noShared.close();

    const bare = await stack.browser.newContext();
    await bare.addInitScript(() => {
      delete (globalThis as { SharedWorker?: unknown }).SharedWorker;
      Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });
    });
    // Another browser profile is another device: it needs an AID of its own.
    const c = await open(bare, newAid());
    expect(await rungOf(c)).toBe('single');
    await bare.close();
  });
});

describe('leader rung: the leader tab is not on the followers\' way', () => {
  it('a follower\'s calls and messages arrive while the leader tab\'s main thread is busy', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const leader = await openTab(ctx, stack, aid, { rung: 'leader' });
    const follower = await openTab(ctx, stack, aid, { rung: 'leader' });
    expect([await isLeader(leader), await isLeader(follower)]).toEqual([true, false]);
    await follower.evaluate(() => {
      const g = globalThis as unknown as { aun: { on(e: string, h: (d: { payload?: { text?: string } }) => void): () => void }; gotAt: Record<string, number> };
      g.gotAt = {};
      g.aun.on('message', (m) => {
        if (m.payload?.text) g.gotAt[m.payload.text] = Date.now();
      });
    });
    // The leader tab's main thread runs one 3 s task, as a page stuck in its own work does.
    const busyFrom = await leader.evaluate(() => {
      setTimeout(() => {
        const end = performance.now() + 3000;
        while (performance.now() < end);
      }, 0);
      return Date.now();
    });
    await new Promise((r) => setTimeout(r, 200));
    const answeredAt = await follower.evaluate(async () => {
      await (globalThis as unknown as { aun: { call(m: string, p: unknown): Promise<unknown> } }).aun.call('meta.ping', {});
      return Date.now();
    });
    const s = await sender();
    await s.call('message.send', { to: aid, payload: { type: 'text', text: 'while-busy' } });
    const gotAt = await until('the message in the follower', () => follower.evaluate(() => (globalThis as unknown as { gotAt: Record<string, number> }).gotAt['while-busy']), 10_000);
    // Both before the leader's task could have ended (through the leader tab they come after it).
    expect(answeredAt).toBeLessThan(busyFrom + 3000);
    expect(gotAt).toBeLessThan(busyFrom + 3000);
    s.close();
    await ctx.close();
  });
});

// Counts, in a page, the messages its BroadcastChannels named `…:leader` hear (the leader rung's
// bus to the leader's owner). A follower only sends there, but an open BroadcastChannel receives
// every other sender's messages too.
const COUNT_LEADER_BUS = `(() => {
  const Base = globalThis.BroadcastChannel;
  const heard = (globalThis.__leaderBusHeard = { n: 0 });
  globalThis.BroadcastChannel = class extends Base {
    constructor(name) {
      super(name);
      if (String(name).endsWith(':leader')) this.addEventListener('message', () => heard.n++);
    }
  };
})();`;

describe('leader rung: a follower\'s calls wake no idle follower', () => {
  it('an idle follower hears nothing of another follower\'s traffic to the leader', async () => {
    const ctx = await stack.browser.newContext();
    await ctx.addInitScript({ content: COUNT_LEADER_BUS });
    const aid = newAid();
    const leader = await openTab(ctx, stack, aid, { rung: 'leader' });
    const idle = await openTab(ctx, stack, aid, { rung: 'leader' });
    const active = await openTab(ctx, stack, aid, { rung: 'leader' });
    expect([await isLeader(leader), await isLeader(idle), await isLeader(active)]).toEqual([true, false, false]);
    const heard = (page: Page) => page.evaluate(() => (globalThis as unknown as { __leaderBusHeard: { n: number } }).__leaderBusHeard.n);
    const pings = (page: Page, count: number) => page.evaluate(async (k) => {
      const aun = (globalThis as unknown as { aun: { call(m: string, p: unknown): Promise<unknown> } }).aun;
      for (let i = 0; i < k; i++) await aun.call('meta.ping', {});
    }, count);

    // The probe hears the bus while the idle tab's own sending end is open (it just called).
    await pings(idle, 1);
    const before = await heard(idle);
    await pings(active, 5);
    expect(await heard(idle)).toBeGreaterThan(before);

    // A second past its last call, the idle tab's sending end is closed: the other follower's
    // calls (and a new tab's attach and login) reach the leader's owner and wake no one else.
    await new Promise((r) => setTimeout(r, 1_500));
    const quiet = await heard(idle);
    await pings(active, 5);
    const late = await openTab(ctx, stack, aid, { rung: 'leader' });
    await pings(late, 2);
    expect(await heard(idle)).toBe(quiet);
    // The idle tab's next call opens it again and is answered.
    await pings(idle, 1);
    await ctx.close();
  });
});
