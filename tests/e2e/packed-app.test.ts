// The library as a new user gets it: `npm pack` (prepack builds it), the tarball installed into a
// fresh Vite app in a temp folder outside the repo (nothing compiled, no install script), the app
// built with its own Vite and `aunWorker()`, then two tabs in Chromium sharing one session.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { stats } from '../support/gateway.ts';
import { launchBrowser, until } from './support.ts';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoPkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };
const viteVersion = (JSON.parse(readFileSync(path.join(repo, 'node_modules/vite/package.json'), 'utf8')) as { version: string }).version;
const AID = 'packed.aun.local';

// The whole app a user writes after reading docs/library-author.md.
const APP_FILES: Record<string, string> = {
  'vite.config.js': `import { aunWorker } from 'aun-worker/vite';\nexport default { plugins: [aunWorker({ eagerClient: true })] };\n`,
  'index.html': '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>packed app</title></head><body><p id="state">starting</p><script type="module" src="./main.js"></script></body></html>\n',
  'main.js': [
    "import { connect } from 'aun-worker/client';",
    "import workers from 'virtual:aun-worker';",
    'const q = new URLSearchParams(location.search);',
    "const gateway = q.get('gateway');",
    "const rootCa = await (await fetch(gateway.replace(/^ws/, 'http').replace(/\\/ws$/, '/pki/root.crt'))).text();",
    'const aun = await connect({ worker: workers, gateway, rootCa });',
    "const aid = q.get('aid');",
    'if (!(await aun.identities.list()).some((i) => i.aid === aid)) await aun.identities.create(aid);',
    'const snap = await aun.login(aid);',
    "aun.on('state', (s) => { document.getElementById('state').textContent = s.state; });",
    "document.getElementById('state').textContent = snap.state;",
    'globalThis.aun = aun;',
    '',
  ].join('\n'),
};

let dir: string;
let app: string;
let installLog: string;
let tarball: string;
let server: PreviewServer;
let gateway: Gateway;
let browser: Browser;
let ctx: BrowserContext;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'aun-packed-'));
  app = path.join(dir, 'app');
  mkdirSync(app);
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repo, maxBuffer: 16 << 20 });
  tarball = path.join(dir, (JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[])[0]!.filename);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'packed-app', private: true, type: 'module',
    dependencies: { [repoPkg.name]: `file:${tarball}`, vite: viteVersion },
  }, null, 2));
  for (const [name, text] of Object.entries(APP_FILES)) writeFileSync(path.join(app, name), text);
  // --foreground-scripts puts any install script's output in the log, so the test can see it.
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel', 'info'], {
    cwd: app, maxBuffer: 64 << 20, env: { ...process.env, npm_config_ignore_scripts: 'false' },
  });
  installLog = install.stdout + install.stderr;
  await run(process.execPath, [path.join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: app });
  server = await preview({ configFile: false, logLevel: 'warn', root: app, build: { outDir: path.join(app, 'dist') }, preview: { port: 0, strictPort: false, host: '127.0.0.1' } });
  gateway = await startGateway({ dataDir: path.join(dir, 'gateway'), admin: true });
  browser = await launchBrowser();
  ctx = await browser.newContext();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await gateway?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('builds the library first (prepack) and ships it with its LICENSE', async () => {
    const list = (await run('tar', ['tzf', tarball])).stdout.split('\n');
    expect(list).toContain('package/LICENSE');
    expect(list).toContain('package/dist/lib/client-stub/index.js');
    expect(list).toContain('package/dist/lib/worker/main.js');
    expect(list).toContain('package/dist/lib/vite-plugin/index.js');
    expect(list.some((f) => f.includes('gateway/') || f.includes('tests/'))).toBe(false);
  });
});

describe('installing the tarball into a new Vite app outside the repo', () => {
  it('is outside the repository', () => {
    expect(path.relative(repo, app).startsWith('..')).toBe(true);
  });

  it('compiles nothing and runs no install script', () => {
    const lock = JSON.parse(readFileSync(path.join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([name]) => name);
    expect(withScripts).toEqual([]);
    expect(installLog).not.toMatch(/node-gyp|prebuild-install|gyp info/);
    // The dev gateway's packages stay out of an app's tree.
    expect(existsSync(path.join(app, 'node_modules/better-sqlite3'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/ws'))).toBe(false);
    expect(Object.keys(repoPkg.dependencies)).not.toContain('better-sqlite3');
  });
});

describe('the app built with aunWorker()', () => {
  let tabs: Page[];
  const errors: string[] = [];

  it('has the client (from the published dist/lib) in a chunk that starts with V8\'s compile hint (eagerClient)', () => {
    const assets = path.join(app, 'dist', 'assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(path.join(assets, f), 'utf8'));
    const client = js.filter((code) => code.includes('aun-tab:'));
    expect(client).toHaveLength(1);
    expect(client[0]!.startsWith('//# allFunctionsCalledOnLoad\n')).toBe(true);
    expect(js.filter((code) => code.includes('allFunctionsCalledOnLoad'))).toHaveLength(1);
  });

  async function openTab(): Promise<Page> {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${server.resolvedUrls!.local[0]!}?${new URLSearchParams({ gateway: gateway.url, aid: AID })}`);
    await page.waitForSelector('#state:text("ready")', { timeout: 60_000 });
    return page;
  }

  it('runs two tabs on one shared session: one long connection at the gateway', async () => {
    tabs = [await openTab(), await openTab()];
    for (const t of tabs) expect(await t.evaluate(() => (globalThis as unknown as { aun: { rung: string } }).aun.rung)).toBe('shared');
    const long = await until('one long connection', async () => {
      const c = (await stats(gateway)).connections.filter((x) => x.aid === AID && x.kind === 'long');
      return c.length > 0 && c;
    });
    expect(long.length).toBe(1);
    expect(errors).toEqual([]);
  }, 120_000);
});
