// The e2e stack: the dev gateway in-process, the built demo served by Vite's preview server, and
// Debian's Chromium driven by playwright-core. Pages of one browser context share one SharedWorker.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import type { GatewayStats } from '../../gateway/http.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../../gateway/server.ts';
import { expect } from 'vitest';
import { adminFetch, adminStats } from '../support/admin.ts';
import { launchChromium as launchBrowser } from '../support/chromium.ts';
import { Identity, Session } from '../support/aun-client.ts';

export interface Stack {
  gateway: Gateway;
  /** The gateway's data directory (its SQLite files). */
  dataDir: string;
  appUrl: string;
  browser: Browser;
  close(): Promise<void>;
}

export { launchBrowser };

export async function serveApp(): Promise<PreviewServer> {
  return preview({
    configFile: 'vite.config.ts', logLevel: 'warn', preview: { port: 0, strictPort: false, host: '127.0.0.1' },
    ...(process.env.AUN_E2E_DIST ? { build: { outDir: process.env.AUN_E2E_DIST } } : {}),
  });
}

export async function startStack(gatewayOptions: GatewayOptions = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aun-e2e-'));
  const gateway = await startGateway({ dataDir, admin: true, ...gatewayOptions });
  const app = await serveApp();
  const appUrl = app.resolvedUrls!.local[0]!.replace(/\/$/, '');
  const browser = await launchBrowser();
  return {
    gateway,
    dataDir,
    appUrl,
    browser,
    async close() {
      await browser.close();
      await app.close();
      await gateway.close();
    },
  };
}

/** The demo URL for a gateway, with extra query parameters. */
export function demoUrl(stack: Stack, query: Record<string, string> = {}): string {
  const q = new URLSearchParams({ gateway: stack.gateway.url, ...query });
  return `${stack.appUrl}/?${q}`;
}

/** Opens a demo tab logged in as `aid` (more query parameters, e.g. `rung`, in `query`) and waits until its session is ready. */
export async function openTab(ctx: BrowserContext, stack: Stack, aid: string, query: Record<string, string> = {}): Promise<Page> {
  return loadTab(await ctx.newPage(), stack, aid, query);
}

/** openTab in a page made beforehand (to slow its CPU first, say); `timeoutMs` for the session to be ready. */
export async function loadTab(page: Page, stack: Stack, aid: string, query: Record<string, string> = {}, timeoutMs = 30_000): Promise<Page> {
  page.on('pageerror', (e) => console.error(`[page ${aid}] ${e.message}`));
  await page.goto(demoUrl(stack, { aid, autologin: '1', ...query }));
  await page.waitForSelector('#state[data-state="ready"]', { timeout: timeoutMs });
  return page;
}

export async function gatewayStats(stack: Stack): Promise<GatewayStats> {
  return adminStats(stack.gateway.httpUrl, stack.gateway.adminToken);
}

/** The gateway's long connections of `aid`. */
export async function longConnections(stack: Stack, aid: string): Promise<GatewayStats['connections']> {
  return (await gatewayStats(stack)).connections.filter((c) => c.aid === aid && c.kind === 'long');
}

export async function adminPost(stack: Stack, action: string, body: unknown = {}): Promise<void> {
  const res = await adminFetch(stack.gateway.httpUrl, stack.gateway.adminToken, action, body);
  if (!res.ok) throw new Error(`admin ${action}: ${res.status}`);
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Calls `window.aun.<path>(...args)` in the page, e.g. `run(page, 'groups.send', id, payload)`. */
export function aunCall<T>(page: Page, path: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([p, a]) => {
    const parts = (p as string).split('.');
    const method = parts.pop()!;
    const owner = parts.reduce((o: Record<string, unknown>, k) => o[k] as Record<string, unknown>, (globalThis as unknown as { aun: Record<string, unknown> }).aun);
    return (owner[method] as (...x: unknown[]) => Promise<unknown>).apply(owner, a as unknown[]);
  }, [path, args] as const) as Promise<T>;
}

/** A Node client registered and logged in as `aid` on `gateway`, with a long connection open. */
export async function openSender(gateway: Gateway, aid: string): Promise<Session> {
  const id = new Identity(aid);
  await id.register(gateway.url);
  await id.login(gateway.url, gateway.httpUrl, gateway.rootPem);
  return Session.open(gateway.url, id, { deviceId: 'node-sender' });
}

/** The texts of the inbound messages in a demo tab's all-messages feed. */
export function inboundTexts(page: Page): Promise<string[]> {
  return page.$$eval('#messages li.inbound .text', (els) => els.map((e) => e.textContent ?? ''));
}

/** Waits until every tab shows every expected text, then checks each shows each exactly once. */
export async function expectExactlyOnce(pages: Page[], expected: string[]): Promise<void> {
  for (const p of pages) {
    await until('every message in the tab', async () => {
      const got = new Set(await inboundTexts(p));
      return expected.every((t) => got.has(t));
    }, 20_000);
    const got = (await inboundTexts(p)).filter((t) => expected.includes(t));
    expect(got.length, 'no message doubled').toBe(expected.length);
    expect(new Set(got).size).toBe(expected.length);
  }
}
