// Issue 7's acceptance: aun-worker pointed at a gateway the way it points at a real one. The dev
// gateway serves HTTPS + WSS with a certificate from its own root; Chromium accepts that one
// server key (--ignore-certificate-errors-spki-list), not the root, so system trust is untouched.
// Identities are created with the https origin (the worker discovers wss://…/ws through
// /.well-known/aun-gateway) and the dev root as the custom root CA, then talk end to end.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import type { IdentityInfo, InboundMessage, SessionSnapshot } from '../../protocol/tab.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { aunCall, launchBrowser, serveApp, until } from './support.ts';

let gateway: Gateway;
let app: PreviewServer;
let appUrl: string;
let browser: Browser;

beforeAll(async () => {
  gateway = await startGateway({ dataDir: mkdtempSync(join(tmpdir(), 'aun-e2e-tls-')), tls: true });
  app = await serveApp();
  appUrl = app.resolvedUrls!.local[0]!.replace(/\/$/, '');
  browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${gateway.tls!.spkiSha256}`]);
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await gateway?.close();
});

let n = 0;
const newAid = () => `tls${Date.now() % 1e8}x${++n}.${gateway.config.issuer}`;

/** A demo tab whose client was set up with the https origin; it collects received messages. */
async function openClientPage(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto(`${appUrl}/?${new URLSearchParams({ gateway: gateway.httpUrl })}`);
  await page.waitForFunction(() => 'aun' in globalThis, undefined, { timeout: 30_000 });
  await page.evaluate(() => {
    const g = globalThis as unknown as { aun: { on(e: string, h: (m: unknown) => void): void }; received: unknown[] };
    g.received = [];
    g.aun.on('message', (m) => g.received.push(m));
  });
  return page;
}

/** Creates `aid` and logs in, naming the gateway by its https origin and the dev root as the trusted root. */
async function createAndLogin(page: Page, aid: string): Promise<IdentityInfo> {
  const options = { gateway: gateway.httpUrl, rootCa: [gateway.tls!.rootPem] };
  const info = await aunCall<IdentityInfo>(page, 'identities.create', aid, options);
  await aunCall<SessionSnapshot>(page, 'login', aid, options);
  await until(`${aid} ready`, async () => (await aunCall<SessionSnapshot | null>(page, 'snapshot'))?.state === 'ready', 30_000);
  return info;
}

describe('a gateway reached through discovery over TLS, with a custom root CA', () => {
  let alice: Page;
  let bob: Page;
  let aliceAid: string;
  let bobAid: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // Two contexts: two origins' worth of storage, so two owners, as two users would have.
    for (let i = 0; i < 2; i++) contexts.push(await browser.newContext());
    alice = await openClientPage(contexts[0]!);
    bob = await openClientPage(contexts[1]!);
    aliceAid = newAid();
    bobAid = newAid();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
  });

  it('creates identities with the https origin, stores the discovered wss:// URL and gets ready', async () => {
    expect(gateway.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const a = await createAndLogin(alice, aliceAid);
    const b = await createAndLogin(bob, bobAid);
    expect(a.gateway).toBe(gateway.url);
    expect(b.gateway).toBe(gateway.url);
    expect(gateway.url).toMatch(/^wss:\/\//);
    const listed = await aunCall<IdentityInfo[]>(alice, 'identities.list');
    expect(listed.find((i) => i.aid === aliceAid)?.gateway).toBe(gateway.url);
  });

  it('exchanges an end-to-end encrypted message both ways', async () => {
    await aunCall(alice, 'send', bobAid, { type: 'text', text: 'hello over wss' });
    const got = await until('bob received', () => bob.evaluate(() =>
      (globalThis as unknown as { received: InboundMessage[] }).received.find((m) => m.direction === 'inbound')));
    expect(got).toMatchObject({ from: aliceAid, to: bobAid, encrypted: true, payload: { text: 'hello over wss' } });
    await aunCall(bob, 'send', aliceAid, { type: 'text', text: 'and back' });
    const back = await until('alice received', () => alice.evaluate(() =>
      (globalThis as unknown as { received: InboundMessage[] }).received.find((m) => m.direction === 'inbound')));
    expect(back).toMatchObject({ from: bobAid, encrypted: true, payload: { text: 'and back' } });
  });

  it('the gateway saw the long connections come over wss', () => {
    const conns = gateway.stats().connections;
    for (const aid of [aliceAid, bobAid]) {
      const long = conns.filter((c) => c.aid === aid && c.kind === 'long');
      expect(long).toHaveLength(1);
      expect(long[0]!.secure).toBe(true);
    }
    expect(conns.every((c) => c.secure)).toBe(true);
  });
});
