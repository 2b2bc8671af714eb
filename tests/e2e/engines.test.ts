// Issue 19: the same app on three engines. Firefox (firefox-esr over WebDriver BiDi) and WebKit
// (WebKitGTK's MiniBrowser over WebKitWebDriver, under Xvfb) run the demo on their default rung:
// tabs share one session, every message reaches every tab once, tabs opened at once agree on one
// owner, the owner dies and nothing is lost or doubled; then a Chromium, a Firefox and a WebKit
// tab hold an end-to-end encrypted conversation as three devices.
//
// Default rungs: Firefox runs the shared rung. WebKit's SharedWorker cannot keep a non-extractable
// CryptoKey in IndexedDB, so its owner answers `unfit` and the tabs step down to the leader rung,
// saying why (aun.rungReason). Owner death: Puppeteer's BiDi and WebKitWebDriver cannot reach a
// SharedWorker, so Firefox loses its whole browser process (SIGKILL) mid-traffic and comes back on
// the same profile; WebKit's leader tab (which runs the owner) is closed mid-traffic.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../support/aun-client.ts';
import { launchFirefox, type FirefoxProfile } from './engines/firefox.ts';
import { errorOf, inbound, inboundTexts, rungOf, stateOf, type EngineProfile, type EngineTab } from './engines/tab.ts';
import { launchWebKit } from './engines/webkit.ts';
import { aunCall, demoUrl, longConnections, openSender, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
let firefoxDir: string;
const profiles: { firefox?: FirefoxProfile; webkit?: EngineProfile } = {};

beforeAll(async () => {
  stack = await startStack({ tokenTtl: 3600 });
  firefoxDir = mkdtempSync(join(tmpdir(), 'aun-firefox-'));
  // Both browsers start together: each takes a few seconds on its own.
  [profiles.firefox, profiles.webkit] = await Promise.all([launchFirefox(firefoxDir), launchWebKit()]);
  console.log(`engines: ${profiles.firefox.version}; ${profiles.webkit.version}`);
});
afterAll(async () => {
  await Promise.all([profiles.firefox?.close(), profiles.webkit?.close()]);
  await stack?.close();
  if (firefoxDir) rmSync(firefoxDir, { recursive: true, force: true });
});

let n = 0;
const newAid = (tag: string) => `${tag}${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;
const longOf = async (aid: string) => (await longConnections(stack, aid)).length;

/** Opens demo tabs logged in as `aid`, all at once, and waits until every one is `ready`. */
async function openReady(profile: EngineProfile, aid: string, count: number): Promise<EngineTab[]> {
  const tabs = await profile.open(Array.from({ length: count }, () => demoUrl(stack, { aid, autologin: '1' })));
  await Promise.all(tabs.map((t) => until(`${profile.engine} tab ready`, async () => {
    const [state, error] = await Promise.all([stateOf(t), errorOf(t)]);
    if (state !== 'ready' && error) throw new Error(`${profile.engine} tab: ${error}`);
    return state === 'ready';
  }, 45_000)));
  return tabs;
}

/** Sends `count` plaintext messages `label-i` from a Node client, `everyMs` apart. */
async function traffic(s: Session, to: string, label: string, count: number, everyMs = 0): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    const text = `${label}-${i}`;
    await s.call('message.send', { to, payload: { type: 'text', text } });
    sent.push(text);
    if (everyMs) await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

async function expectOnceEach(tabs: EngineTab[], expected: string[]): Promise<void> {
  for (const t of tabs) {
    await until('every message in the tab', async () => {
      const got = new Set(await inboundTexts(t));
      return expected.every((x) => got.has(x));
    }, 30_000);
    const got = (await inboundTexts(t)).filter((x) => expected.includes(x));
    expect(got.length, 'no message doubled').toBe(expected.length);
  }
}

/** What the SharedWorker of WebKit answers, as the tab reports it. */
const KEYSTORE_UNFIT = 'the shared rung cannot run in this browser: this worker cannot serialize a non-extractable CryptoKey, so the keystore cannot keep its wrapping key in IndexedDB (DataCloneError';

// A tab that steps down says why; on a loaded machine a slow SharedWorker start can be the
// reason instead of the keystore, so the keystore's own answer is checked with the rung forced.
const ENGINES = [
  { engine: 'firefox', rung: 'shared', reason: null },
  { engine: 'webkit', rung: 'leader', reason: /^shared → leader: / },
] as const;

for (const { engine, rung, reason } of ENGINES) {
  describe(`${engine}, default rung`, () => {
    const profile = () => profiles[engine]!;
    let aid: string;
    let tabs: EngineTab[] = [];

    it(`3 tabs share one session on the ${rung} rung and get every message once`, async () => {
      aid = newAid(engine);
      // The first tab creates the identity; the next two find it.
      tabs = await openReady(profile(), aid, 1);
      tabs.push(...await openReady(profile(), aid, 2));
      const seen = await Promise.all(tabs.map(rungOf));
      for (const r of seen) {
        expect(r.rung).toBe(rung);
        if (reason) expect(r.reason).toMatch(reason);
        else expect(r.reason).toBeNull();
      }
      expect(new Set(seen.map((r) => r.incarnation)).size).toBe(1);
      if (rung === 'leader') expect(seen.filter((r) => r.leader)).toHaveLength(1);
      expect(await longOf(aid)).toBe(1);
      const s = await openSender(stack.gateway, newAid('sender'));
      await expectOnceEach(tabs, await traffic(s, aid, `${engine}-steady`, 10));
      expect(await longOf(aid)).toBe(1);
      s.close();
    });

    it('3 tabs opened at once, with no owner running, agree on one owner and one connection', async () => {
      const before = (await rungOf(tabs[0]!)).incarnation;
      for (const t of tabs) await t.close();
      await until('the owner gone with the last tab', async () => (await longOf(aid)) === 0, 30_000);
      tabs = await openReady(profile(), aid, 3);
      const seen = await Promise.all(tabs.map(rungOf));
      expect(seen.map((r) => r.rung), JSON.stringify(seen)).toEqual([rung, rung, rung]);
      const incarnations = new Set(seen.map((r) => r.incarnation));
      expect(incarnations.size).toBe(1);
      expect(incarnations.has(before)).toBe(false);
      if (rung === 'leader') expect(seen.filter((r) => r.leader)).toHaveLength(1);
      expect(await longOf(aid)).toBe(1);
      const s = await openSender(stack.gateway, newAid('sender'));
      await expectOnceEach(tabs, await traffic(s, aid, `${engine}-at-once`, 10));
      s.close();
    });

    if (engine === 'webkit') {
      it('its SharedWorker answers that the keystore cannot keep keys there, and the inspector says why the tab stepped down', async () => {
        const [forced] = await profile().open([demoUrl(stack, { aid, autologin: '1', rung: 'shared' })]);
        const error = await until('the forced shared rung refused', async () => (await errorOf(forced!)) || undefined, 30_000);
        expect(error).toContain(KEYSTORE_UNFIT);
        expect(await stateOf(forced!)).not.toBe('ready');
        await forced!.close();
        const [inspector] = await profile().open([`${stack.appUrl}/inspector.html?${new URLSearchParams({ gateway: stack.gateway.url })}`]);
        const owner = await until('the inspector rendered', async () => inspector!.eval<string | null>(`document.body.dataset.ready === '1' ? document.querySelector('#owner').textContent : null`), 30_000);
        expect(owner).toMatch(/^rung leader \(stepped down shared → leader: /);
        await inspector!.close();
      });
    }

    it('the owner dies mid-traffic: a new owner takes over and nothing is lost or doubled', async () => {
      const s = await openSender(stack.gateway, newAid('sender'));
      const before = (await rungOf(tabs[0]!)).incarnation;
      const flow = traffic(s, aid, `${engine}-failover`, 30, 30);
      await new Promise((r) => setTimeout(r, 300));
      if (engine === 'firefox') {
        // The whole browser goes (SIGKILL): tabs, SharedWorker and socket; it comes back on the same profile.
        profiles.firefox!.kill();
        await profiles.firefox!.close();
        profiles.firefox = await launchFirefox(firefoxDir);
        tabs = await openReady(profiles.firefox, aid, 2);
      } else {
        const seen = await Promise.all(tabs.map(rungOf));
        const leader = seen.findIndex((r) => r.leader);
        expect(leader).toBeGreaterThanOrEqual(0);
        await tabs[leader]!.close();
        tabs.splice(leader, 1);
      }
      const sent = await flow;
      await expectOnceEach(tabs, sent);
      const after = new Set((await Promise.all(tabs.map(rungOf))).map((r) => r.incarnation));
      expect(after.size).toBe(1);
      expect(after.has(before)).toBe(false);
      await until('one long connection', async () => (await longOf(aid)) === 1, 30_000);
      s.close();
    });
  });
}

describe('three engines, three devices', () => {
  it('a Chromium, a Firefox and a WebKit tab exchange end-to-end encrypted messages, one each way, and each decrypts', async () => {
    const aids = { chromium: newAid('chromium'), firefox: newAid('firefox'), webkit: newAid('webkit') };
    const ctx = await stack.browser.newContext();
    try {
      const chromiumPage = await openTab(ctx, stack, aids.chromium);
      const [[ff], [wk]] = await Promise.all([openReady(profiles.firefox!, aids.firefox, 1), openReady(profiles.webkit!, aids.webkit, 1)]);
      const chromiumTab: EngineTab = {
        eval: (expression) => chromiumPage.evaluate(expression),
        close: () => chromiumPage.close(),
      };
      const tabs = { chromium: chromiumTab, firefox: ff!, webkit: wk! };
      const names = Object.keys(tabs) as (keyof typeof tabs)[];
      const text = (from: string, to: string) => `e2ee ${from} to ${to}`;
      for (const from of names) {
        for (const to of names) {
          if (from === to) continue;
          const body = JSON.stringify(text(from, to));
          const result = from === 'chromium'
            ? await aunCall<{ message_id?: string; status?: string }>(chromiumPage, 'send', aids[to], { type: 'text', text: text(from, to) })
            : await tabs[from].eval<{ message_id?: string; status?: string }>(`globalThis.aun.send(${JSON.stringify(aids[to])}, { type: 'text', text: ${body} })`);
          expect(result.status, `${from} → ${to} accepted, not queued`).not.toBe('queued');
        }
      }
      for (const to of names) {
        const expected = names.filter((f) => f !== to).map((f) => text(f, to));
        await until(`${to} decrypted both messages`, async () => {
          const got = await inbound(tabs[to]);
          return expected.every((x) => got.some((m) => m.text === x));
        }, 30_000);
        const got = (await inbound(tabs[to])).filter((m) => expected.includes(m.text));
        expect(got, `${to} shows each once, each end-to-end encrypted`).toHaveLength(2);
        for (const m of got) expect(m.encrypted).toBe(true);
      }
      await Promise.all([ff!.close(), wk!.close()]);
    } finally {
      await ctx.close();
    }
  });
});
