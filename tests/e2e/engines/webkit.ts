// WebKit for the cross-engine suite: WebKitGTK's MiniBrowser (Debian's libwebkit2gtk-4.1-0) driven
// by selenium-webdriver through Debian's WebKitWebDriver, on an Xvfb display this file starts
// itself (MiniBrowser has no headless mode). All windows of one WebDriver session are one profile.

import { spawn, type ChildProcess } from 'node:child_process';
import { Builder, type WebDriver } from 'selenium-webdriver';
import { freePort } from '../../support/ports.ts';
import { isExecutable, type EngineProfile, type EngineTab } from './tab.ts';

const DRIVER_CANDIDATES = ['/usr/bin/WebKitWebDriver'];
const MINIBROWSER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
const START_TIMEOUT_MS = 20_000;

/** WEBKIT_DRIVER_PATH / MINIBROWSER_PATH, or Debian's; throws with what to install when missing. */
export function webkitPaths(): { driver: string; browser: string } {
  const driver = [process.env.WEBKIT_DRIVER_PATH, ...DRIVER_CANDIDATES].find((p) => p && isExecutable(p));
  const browser = [process.env.MINIBROWSER_PATH, ...MINIBROWSER_DIRS.flatMap((d) => ['webkit2gtk-4.1', 'webkit2gtk-4.0'].map((v) => `${d}/${v}/MiniBrowser`))]
    .find((p) => p && isExecutable(p));
  if (driver && browser) return { driver, browser };
  throw new Error('WebKitGTK not found (WEBKIT_DRIVER_PATH, MINIBROWSER_PATH): apt-get install webkit2gtk-driver (it pulls libwebkit2gtk-4.1-0 and its MiniBrowser)');
}

/** An Xvfb display of its own: Xvfb picks a free number and writes it to fd 3 (-displayfd). */
export async function startXvfb(): Promise<{ display: string; stop(): void }> {
  if (!isExecutable('/usr/bin/Xvfb')) throw new Error('Xvfb not found: apt-get install xvfb');
  const proc = spawn('/usr/bin/Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb did not start within ${START_TIMEOUT_MS} ms: ${err}`)), START_TIMEOUT_MS);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve(`:${out.trim()}`);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}): ${err}`));
    });
  });
  return { display, stop: () => void proc.kill() };
}


async function startDriver(path: string, display: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(path, [`--port=${port}`, '--host=127.0.0.1'], { env: { ...process.env, DISPLAY: display }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${proc.exitCode}`);
    const up = await fetch(`${url}/status`).then((r) => r.ok, () => false);
    if (up) return { url, proc };
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`WebKitWebDriver did not listen on ${url} within ${START_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Classic WebDriver talks to one window at a time: every call switches to its tab first, and the
 * calls of one session are queued so that two tabs' calls never interleave a switch.
 */
class Session {
  private queue: Promise<unknown> = Promise.resolve();
  constructor(readonly driver: WebDriver) {}
  run<T>(fn: (d: WebDriver) => Promise<T>): Promise<T> {
    const next = this.queue.then(() => fn(this.driver));
    this.queue = next.catch(() => {});
    return next;
  }
}

class WebKitTab implements EngineTab {
  /** `home`: the session's first window, current again after a close (a closed current window fails every later call). */
  constructor(private readonly session: Session, readonly handle: string, private readonly home: string) {}
  eval<T>(expression: string): Promise<T> {
    return this.session.run(async (d) => {
      await d.switchTo().window(this.handle);
      return d.executeScript<T>(`return (async () => (${expression}))();`);
    });
  }
  close(): Promise<void> {
    return this.session.run(async (d) => {
      await d.switchTo().window(this.handle);
      await d.close();
      await d.switchTo().window(this.home);
    });
  }
}

export interface WebKitProfile extends EngineProfile {
  /** The WebDriver session, for what EngineTab does not cover. */
  readonly driver: WebDriver;
}

/** A MiniBrowser of its own (own Xvfb display, own WebKitWebDriver, one ephemeral profile). */
export async function launchWebKit(): Promise<WebKitProfile> {
  const paths = webkitPaths();
  const xvfb = await startXvfb();
  let driverProc: ChildProcess | undefined;
  try {
    const started = await startDriver(paths.driver, xvfb.display);
    driverProc = started.proc;
    const driver = await new Builder()
      .usingServer(started.url)
      .withCapabilities({ browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: paths.browser, args: ['--automation'] } })
      .build();
    const session = new Session(driver);
    const caps = await driver.getCapabilities();
    const version = `${String(caps.get('browserName'))} ${String(caps.get('browserVersion'))}`;
    // The session's first window stays open (blank): closing the last window would end the session.
    const home = await driver.getWindowHandle();
    const proc = driverProc;
    return {
      engine: 'webkit',
      version,
      driver,
      async open(urls) {
        // New windows first, then every navigation started without waiting for the others.
        const handles = await session.run(async (d) => {
          const out: string[] = [];
          for (let i = 0; i < urls.length; i++) {
            await d.switchTo().newWindow('tab');
            out.push(await d.getWindowHandle());
          }
          for (const [i, h] of out.entries()) {
            await d.switchTo().window(h);
            await d.executeScript('location.href = arguments[0];', urls[i]);
          }
          await d.switchTo().window(home);
          return out;
        });
        const tabs = handles.map((h) => new WebKitTab(session, h, home));
        for (const t of tabs) await waitLoaded(t);
        return tabs;
      },
      async close() {
        await driver.quit().catch(() => {});
        proc.kill();
        xvfb.stop();
      },
    };
  } catch (err) {
    driverProc?.kill();
    xvfb.stop();
    throw err;
  }
}

async function waitLoaded(tab: WebKitTab): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const ok = await tab.eval<boolean>(`location.protocol.startsWith('http') && document.readyState !== 'loading'`).catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('a WebKit tab did not load');
}

