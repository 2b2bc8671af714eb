// Finding the Gateway (spec §2.1): a `gateway` option may be the WebSocket URL itself, an http(s)
// origin that serves `/.well-known/aun-gateway`, or nothing, in which case the AID's own host and
// then `gateway.<issuer>` are asked. The answer is resolved once, when the identity is created, and
// stored with it.

import { SessionError, ValidationError } from '../../protocol/errors.ts';
import { resolveFetch, systemTimers, type FetchFn, type Timers } from '../net/io.ts';

export const DISCOVERY_PATH = '/.well-known/aun-gateway';
export const DISCOVERY_TIMEOUT_MS = 5_000;
/** Waits before the 2nd and 3rd attempt after a network error; HTTP errors are not retried. */
export const DISCOVERY_RETRY_DELAYS_MS: readonly number[] = [50, 100];
/** Priority of an entry that has none. */
export const DEFAULT_PRIORITY = 999;

const WHAT_TO_PASS = 'pass `gateway` as the wss://…/ws URL of the gateway, or as an https:// origin that serves /.well-known/aun-gateway';

export interface DiscoveryOptions {
  fetch?: FetchFn;
  timers?: Timers;
  /** Per attempt. */
  timeoutMs?: number;
}

export function isWebSocketUrl(value: string): boolean {
  return /^wss?:\/\//i.test(value);
}

/**
 * The gateway URLs of a discovery document, best first: entries sorted by `priority` (missing or
 * not a number = 999, ties keep document order), entries without a ws(s) `url` dropped. A document
 * fetched over https may not send the client to a plaintext `ws://` gateway.
 */
export function parseDiscovery(doc: unknown, opts: { secure: boolean }): string[] {
  const gateways = (doc as { gateways?: unknown } | null)?.gateways;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(gateways) || gateways.length === 0) {
    throw new SessionError('the discovery document has no "gateways" list');
  }
  const priority = (e: { priority?: unknown }) => (typeof e.priority === 'number' && Number.isFinite(e.priority) ? e.priority : DEFAULT_PRIORITY);
  const usable = (gateways as unknown[])
    .filter((e): e is { url: string; priority?: unknown } => typeof e === 'object' && e !== null && typeof (e as { url?: unknown }).url === 'string')
    .filter((e) => acceptedUrl(e.url, opts.secure))
    .sort((a, b) => priority(a) - priority(b));
  if (usable.length === 0) {
    throw new SessionError(`the discovery document lists no usable gateway (each needs a ${opts.secure ? 'wss://' : 'ws:// or wss://'} "url")`);
  }
  return usable.map((e) => e.url);
}

function acceptedUrl(url: string, secure: boolean): boolean {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return false;
  }
  return protocol === 'wss:' || (protocol === 'ws:' && !secure);
}

/** The well-known URL of an http(s) origin (any path in `origin` is ignored). */
export function discoveryUrl(origin: string): string {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    throw new ValidationError(`not a URL: ${origin}; ${WHAT_TO_PASS}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ValidationError(`cannot discover a gateway at ${origin}; ${WHAT_TO_PASS}`);
  return `${u.protocol}//${u.host}${DISCOVERY_PATH}`;
}

/**
 * Where the gateway of `aid` is looked up when none is given: the AID's host, then
 * `gateway.<issuer>` (spec §2.1, the order used when TLS is verified, which a browser always does).
 */
export function discoveryCandidates(aid: string): string[] {
  const dot = aid.indexOf('.');
  if (dot <= 0 || dot === aid.length - 1) throw new ValidationError(`cannot discover the gateway of "${aid}": not an AID (name.issuer); ${WHAT_TO_PASS}`);
  return [`https://${aid}`, `https://gateway.${aid.slice(dot + 1)}`];
}

/** GET `<origin>/.well-known/aun-gateway` and returns the best gateway URL. */
export async function discoverGateway(origin: string, opts: DiscoveryOptions = {}): Promise<string> {
  try {
    return await discoverAt(discoveryUrl(origin), opts);
  } catch (err) {
    throw withHint(err);
  }
}

/**
 * The gateway WebSocket URL for a `gateway` option: a ws(s) URL as given, an http(s) origin through
 * its discovery document, nothing through the AID's candidates (the first that answers wins).
 */
export async function resolveGateway(gateway: string | undefined, aid: string, opts: DiscoveryOptions = {}): Promise<string> {
  if (gateway !== undefined && typeof gateway !== 'string') throw new ValidationError(`gateway must be a string; ${WHAT_TO_PASS}`);
  const given = gateway?.trim();
  if (given) {
    if (!isWebSocketUrl(given)) return discoverGateway(given, opts);
    try {
      new URL(given);
    } catch {
      throw new ValidationError(`not a URL: ${given}; ${WHAT_TO_PASS}`);
    }
    return given;
  }
  const candidates = discoveryCandidates(aid);
  const failures: string[] = [];
  for (const origin of candidates) {
    try {
      return await discoverAt(discoveryUrl(origin), opts);
    } catch (err) {
      if (!(err instanceof SessionError)) throw err;
      failures.push(err.message);
    }
  }
  throw new SessionError(`no gateway found for ${aid} (${failures.join('; ')}); ${WHAT_TO_PASS}`, undefined, { candidates }, true);
}

function withHint(err: unknown): unknown {
  if (!(err instanceof SessionError)) return err;
  return new SessionError(`${err.message}; ${WHAT_TO_PASS}`, err.code, err.data, err.retryable);
}

/** One discovery document, fetched and checked; failures are SessionErrors without the hint. */
async function discoverAt(url: string, opts: DiscoveryOptions): Promise<string> {
  const res = await fetchWithRetry(url, opts);
  if (!res.ok) {
    throw new SessionError(`GET ${url} answered HTTP ${res.status}: this origin does not publish an AUN gateway`, undefined,
      { url, status: res.status }, res.status >= 500);
  }
  let doc: unknown;
  try {
    doc = await res.json();
  } catch {
    throw new SessionError(`GET ${url} did not answer JSON`, undefined, { url });
  }
  try {
    return parseDiscovery(doc, { secure: url.startsWith('https:') })[0]!;
  } catch (err) {
    throw new SessionError(`${url}: ${(err as Error).message}`, undefined, { url });
  }
}

async function fetchWithRetry(url: string, opts: DiscoveryOptions): Promise<Response> {
  const timers = opts.timers ?? systemTimers;
  const fetchFn = resolveFetch(opts.fetch);
  const timeoutMs = opts.timeoutMs ?? DISCOVERY_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(url, fetchFn, timers, timeoutMs);
    } catch (err) {
      if (err instanceof SessionError) throw err;
      const delay = DISCOVERY_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        throw new SessionError(`could not reach ${url} (${(err as Error).message}): check that the origin is up, serves HTTPS with a `
          + 'certificate this browser trusts and allows CORS', undefined, { url }, true);
      }
      await new Promise<void>((resolve) => timers.setTimeout(resolve, delay));
    }
  }
}

/** One GET with a deadline: a timeout is a SessionError (not retried), a network failure is rethrown as is. */
function fetchOnce(url: string, fetchFn: FetchFn, timers: Timers, timeoutMs: number): Promise<Response> {
  const controller = new AbortController();
  return new Promise<Response>((resolve, reject) => {
    const timer = timers.setTimeout(() => {
      reject(new SessionError(`GET ${url}: no answer within ${timeoutMs} ms`, undefined, { url }, true));
      controller.abort();
    }, timeoutMs);
    fetchFn(url, { signal: controller.signal, headers: { accept: 'application/json' } }).then(
      (res) => { timers.clearTimeout(timer); resolve(res); },
      (err: unknown) => { timers.clearTimeout(timer); reject(err); },
    );
  });
}
