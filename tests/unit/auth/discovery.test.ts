import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionError, ValidationError } from '../../../protocol/errors.ts';
import { testGateway } from '../../support/gateway.ts';
import {
  DISCOVERY_TIMEOUT_MS, discoverGateway, discoveryCandidates, discoveryUrl, parseDiscovery, resolveGateway,
} from '../../../worker/auth/discovery.ts';
import type { FetchFn } from '../../../worker/net/io.ts';

type Answer = Response | Error | 'hang';

/** A fetch that plays `answers` in order (the last one repeats) and records each request. */
function scripted(...answers: Answer[]) {
  const calls: { url: string; init?: RequestInit }[] = [];
  const fetch: FetchFn = (url, init) => {
    calls.push({ url, init });
    const a = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    if (a === 'hang') {
      return new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    }
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a.clone());
  };
  return { fetch, calls };
}

const doc = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
const netError = () => new TypeError('Failed to fetch');

describe('parseDiscovery', () => {
  it('sorts by priority, a missing or non-numeric priority counting as 999, ties in document order', () => {
    const urls = parseDiscovery({
      gateways: [
        { url: 'wss://none.example/ws' },
        { url: 'wss://three.example/ws', priority: 3 },
        { url: 'wss://text.example/ws', priority: '1' },
        { url: 'wss://one.example/ws', priority: 1 },
        { url: 'wss://big.example/ws', priority: 1000 },
      ],
    }, { secure: true });
    expect(urls).toEqual(['wss://one.example/ws', 'wss://three.example/ws', 'wss://none.example/ws', 'wss://text.example/ws', 'wss://big.example/ws']);
  });

  it('drops entries without a string url or with a url that is not ws(s)', () => {
    const urls = parseDiscovery({
      gateways: [
        { priority: 0 }, { url: 42, priority: 0 }, null, 'wss://bare-string.example/ws',
        { url: 'https://http.example/ws', priority: 0 }, { url: 'not a url', priority: 0 },
        { url: 'wss://ok.example/ws', priority: 5 },
      ],
    }, { secure: true });
    expect(urls).toEqual(['wss://ok.example/ws']);
  });

  it('accepts ws:// only from a document that did not come over https', () => {
    const gateways = [{ url: 'ws://plain.example/ws', priority: 1 }, { url: 'wss://tls.example/ws', priority: 2 }];
    expect(parseDiscovery({ gateways }, { secure: false })).toEqual(['ws://plain.example/ws', 'wss://tls.example/ws']);
    expect(parseDiscovery({ gateways }, { secure: true })).toEqual(['wss://tls.example/ws']);
    expect(() => parseDiscovery({ gateways: [gateways[0]] }, { secure: true })).toThrow(/no usable gateway.*wss:\/\//);
  });

  it('refuses a document without a non-empty gateways list', () => {
    for (const bad of [null, [], 'x', {}, { gateways: [] }, { gateways: {} }, { gateways: [{ priority: 1 }] }]) {
      expect(() => parseDiscovery(bad, { secure: true })).toThrow(SessionError);
    }
  });
});

describe('discovery URLs', () => {
  it('asks the origin\'s well-known path, whatever path the option carries', () => {
    expect(discoveryUrl('https://gw.example')).toBe('https://gw.example/.well-known/aun-gateway');
    expect(discoveryUrl('https://gw.example:8443/some/path?q=1')).toBe('https://gw.example:8443/.well-known/aun-gateway');
    expect(discoveryUrl('http://127.0.0.1:7700/')).toBe('http://127.0.0.1:7700/.well-known/aun-gateway');
    expect(() => discoveryUrl('ftp://gw.example')).toThrow(ValidationError);
    expect(() => discoveryUrl('gw.example')).toThrow(ValidationError);
  });

  it('derives the AID\'s candidates: its own host, then gateway.<issuer>', () => {
    expect(discoveryCandidates('alice.agentid.pub')).toEqual(['https://alice.agentid.pub', 'https://gateway.agentid.pub']);
    expect(discoveryCandidates('bob.corp.example.com')).toEqual(['https://bob.corp.example.com', 'https://gateway.corp.example.com']);
    expect(() => discoveryCandidates('nodot')).toThrow(ValidationError);
  });
});

describe('discoverGateway', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('returns the best gateway of the document', async () => {
    const { fetch, calls } = scripted(doc({ gateways: [{ url: 'wss://b.example/ws', priority: 2 }, { url: 'wss://a.example/ws', priority: 1 }] }));
    await expect(discoverGateway('https://gw.example', { fetch })).resolves.toBe('wss://a.example/ws');
    expect(calls.map((c) => c.url)).toEqual(['https://gw.example/.well-known/aun-gateway']);
  });

  it('retries a network error twice, after 50 ms and then 100 ms', async () => {
    const { fetch, calls } = scripted(netError(), netError(), doc({ gateways: [{ url: 'wss://a.example/ws' }] }));
    const result = discoverGateway('https://gw.example', { fetch });
    await vi.advanceTimersByTimeAsync(49);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('wss://a.example/ws');
    expect(calls).toHaveLength(3);
  });

  it('gives up after three network errors with a retryable SessionError that says what to do', async () => {
    const { fetch, calls } = scripted(netError());
    const result = discoverGateway('https://gw.example', { fetch });
    const check = expect(result).rejects.toSatisfy((err: unknown) => err instanceof SessionError && err.retryable
      && /could not reach https:\/\/gw\.example\/\.well-known\/aun-gateway \(Failed to fetch\)/.test(err.message)
      && /certificate this browser trusts/.test(err.message) && /pass `gateway` as the wss:\/\//.test(err.message));
    await vi.advanceTimersByTimeAsync(150);
    await check;
    expect(calls).toHaveLength(3);
  });

  it('does not retry an HTTP error status', async () => {
    const { fetch, calls } = scripted(new Response('nope', { status: 404 }), doc({ gateways: [{ url: 'wss://a.example/ws' }] }));
    await expect(discoverGateway('https://gw.example', { fetch })).rejects.toSatisfy((err: unknown) =>
      err instanceof SessionError && !err.retryable && /HTTP 404/.test(err.message) && (err.data as { status: number }).status === 404);
    expect(calls).toHaveLength(1);
    const unavailable = scripted(new Response('', { status: 503 }));
    await expect(discoverGateway('https://gw.example', { fetch: unavailable.fetch })).rejects.toMatchObject({ name: 'SessionError', retryable: true });
    expect(unavailable.calls).toHaveLength(1);
  });

  it('refuses a body that is not JSON or not a discovery document, without retrying', async () => {
    const notJson = scripted(new Response('<html>', { status: 200 }));
    await expect(discoverGateway('https://gw.example', { fetch: notJson.fetch })).rejects.toThrow(/did not answer JSON/);
    expect(notJson.calls).toHaveLength(1);
    const empty = scripted(doc({ gateways: [] }));
    await expect(discoverGateway('https://gw.example', { fetch: empty.fetch })).rejects.toThrow(/no "gateways" list/);
    const downgrade = scripted(doc({ gateways: [{ url: 'ws://gw.example/ws' }] }));
    await expect(discoverGateway('https://gw.example', { fetch: downgrade.fetch })).rejects.toThrow(SessionError);
    const plain = scripted(doc({ gateways: [{ url: 'ws://gw.example/ws' }] }));
    await expect(discoverGateway('http://gw.example', { fetch: plain.fetch })).resolves.toBe('ws://gw.example/ws');
  });

  it('times out after 5 s, aborts the request and does not retry', async () => {
    const { fetch, calls } = scripted('hang');
    const result = discoverGateway('https://gw.example', { fetch });
    const check = expect(result).rejects.toSatisfy((err: unknown) => err instanceof SessionError && /no answer within 5000 ms/.test(err.message));
    await vi.advanceTimersByTimeAsync(DISCOVERY_TIMEOUT_MS - 1);
    expect(calls[0]!.init?.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await check;
    expect(calls[0]!.init?.signal?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toHaveLength(1);
  });
});

describe('resolveGateway', () => {
  const never: FetchFn = () => Promise.reject(new Error('no fetch expected'));

  it('uses a ws:// or wss:// option as it is, without any request', async () => {
    await expect(resolveGateway('wss://gw.example:8443/ws', 'alice.example', { fetch: never })).resolves.toBe('wss://gw.example:8443/ws');
    await expect(resolveGateway('ws://127.0.0.1:7700/ws', 'alice.example', { fetch: never })).resolves.toBe('ws://127.0.0.1:7700/ws');
  });

  it('discovers through an http(s) origin option', async () => {
    const { fetch, calls } = scripted(doc({ gateways: [{ url: 'wss://gw.example/ws', priority: 1 }] }));
    await expect(resolveGateway('https://example.org', 'alice.example', { fetch })).resolves.toBe('wss://gw.example/ws');
    expect(calls.map((c) => c.url)).toEqual(['https://example.org/.well-known/aun-gateway']);
  });

  it('without a gateway, asks the AID\'s host and then gateway.<issuer>', async () => {
    const { fetch, calls } = scripted(new Response('', { status: 404 }), doc({ gateways: [{ url: 'wss://gw.agentid.pub/ws' }] }));
    await expect(resolveGateway(undefined, 'alice.agentid.pub', { fetch })).resolves.toBe('wss://gw.agentid.pub/ws');
    expect(calls.map((c) => c.url)).toEqual([
      'https://alice.agentid.pub/.well-known/aun-gateway',
      'https://gateway.agentid.pub/.well-known/aun-gateway',
    ]);
    const first = scripted(doc({ gateways: [{ url: 'wss://own.agentid.pub/ws' }] }));
    await expect(resolveGateway('', 'alice.agentid.pub', { fetch: first.fetch })).resolves.toBe('wss://own.agentid.pub/ws');
    expect(first.calls).toHaveLength(1);
  });

  it('reports every candidate when none answers', async () => {
    const { fetch } = scripted(new Response('', { status: 404 }));
    await expect(resolveGateway(undefined, 'alice.agentid.pub', { fetch })).rejects.toSatisfy((err: unknown) =>
      err instanceof SessionError && /no gateway found for alice\.agentid\.pub/.test(err.message)
      && err.message.includes('https://alice.agentid.pub/.well-known/aun-gateway answered HTTP 404')
      && err.message.includes('https://gateway.agentid.pub/.well-known/aun-gateway answered HTTP 404')
      && /pass `gateway` as/.test(err.message));
  });

  it('refuses an option that is neither a ws(s) URL nor an http(s) origin', async () => {
    for (const bad of ['gw.example/ws', 'ftp://gw.example', 'wss://', 42 as unknown as string]) {
      await expect(resolveGateway(bad, 'alice.example', { fetch: never })).rejects.toBeInstanceOf(ValidationError);
    }
  });
});

describe('against the dev gateway', () => {
  it('finds its WebSocket URL from its http origin', async () => {
    const gw = await testGateway();
    try {
      await expect(resolveGateway(gw.httpUrl, 'alice.aun.local')).resolves.toBe(gw.url);
    } finally {
      await gw.close();
    }
  });
});
