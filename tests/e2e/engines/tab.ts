// One tab of the demo in a browser that is not driven by Playwright (Firefox over WebDriver BiDi,
// WebKit over classic WebDriver), seen through the few things the cross-engine suite asks of it.

import { accessSync, constants } from 'node:fs';

/** What the suite reads from and does to a demo tab, whatever drives the browser. */
export interface EngineTab {
  /** Evaluates a JavaScript expression in the page (awaited when it is a promise). */
  eval<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

/** One browser profile: its tabs share one origin's storage, SharedWorker and Web Locks. */
export interface EngineProfile {
  readonly engine: string;
  /** The browser's name and version, as it reports them. */
  readonly version: string;
  /** Opens tabs at `urls` all at once (no tab waits for another) and resolves when all have loaded. */
  open(urls: string[]): Promise<EngineTab[]>;
  close(): Promise<void>;
}

/** The demo's client in the page. */
export const AUN = 'globalThis.aun';

export function stateOf(tab: EngineTab): Promise<string | null> {
  return tab.eval(`document.querySelector('#state')?.dataset.state ?? null`);
}

export function rungOf(tab: EngineTab): Promise<{ rung: string | null; reason: string | null; incarnation: string | null; leader: boolean }> {
  return tab.eval(`({ rung: ${AUN}.rung, reason: ${AUN}.rungReason, incarnation: ${AUN}.incarnation, leader: Boolean(${AUN}.linker?.transport?.isLeader) })`);
}

export function inboundTexts(tab: EngineTab): Promise<string[]> {
  return tab.eval(`[...document.querySelectorAll('#messages li.inbound .text')].map((e) => e.textContent ?? '')`);
}

/** The inbound messages of the feed with whether each was end-to-end encrypted. */
export function inbound(tab: EngineTab): Promise<{ text: string; encrypted: boolean }[]> {
  return tab.eval(`[...document.querySelectorAll('#messages li.inbound')].map((li) => ({ text: li.querySelector('.text')?.textContent ?? '', encrypted: li.dataset.encrypted === 'true' }))`);
}

/** The text of the demo's error line (empty when none). */
export function errorOf(tab: EngineTab): Promise<string> {
  return tab.eval(`document.querySelector('#error')?.textContent ?? ''`);
}

/** Whether a browser or driver binary is there and runnable. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
