// The I/O the worker takes by injection, so the same code runs in a SharedWorker (globals) and in
// Node tests (the `ws` package, fake timers).

import { AunError } from '../../protocol/errors.ts';

/** A WebSocket constructor with the browser's API (`ws`'s WebSocket fits after a cast). */
export type WebSocketCtor = new (url: string) => WebSocket;

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/** Clock and timers; the defaults look the globals up at call time so Vitest fake timers apply. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function resolveWebSocket(impl?: WebSocketCtor): WebSocketCtor {
  const ctor = impl ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (!ctor) throw new AunError('no WebSocket implementation: pass WebSocketImpl (in Node, the `ws` package)');
  return ctor;
}

export function resolveFetch(impl?: FetchFn): FetchFn {
  return impl ?? ((input, init) => fetch(input, init));
}

/** `ws(s)://host:port/path` → `http(s)://host:port`, where /health and /pki/* live (spec §2.2). */
export function httpBaseOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  const scheme = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  return `${scheme}//${u.host}`;
}
