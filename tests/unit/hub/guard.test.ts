import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { guardedEndpoint } from '../../../worker/hub/guard.ts';

const channels: MessageChannel[] = [];
afterEach(() => channels.splice(0).forEach((c) => { c.port1.close(); c.port2.close(); }));

function exposeGuarded() {
  const secret = { key: 'private' };
  const calls: string[] = [];
  const facade = {
    echo: async (x: unknown) => { calls.push('echo'); return x; },
    hidden: secret,
  };
  const ch = new MessageChannel();
  channels.push(ch);
  Comlink.expose(facade, guardedEndpoint(ch.port2 as unknown as MessagePort, new Set(['echo'])));
  return { remote: Comlink.wrap<typeof facade>(ch.port1 as never), calls, facade, port: ch.port1 };
}

/** Sends a raw Comlink wire message and returns the raw answer. */
function raw(port: MessagePort, msg: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const id = String(Math.random());
    const onMessage = (ev: MessageEvent) => {
      if (ev.data?.id !== id) return;
      port.removeEventListener('message', onMessage);
      resolve(ev.data);
    };
    port.addEventListener('message', onMessage);
    port.start();
    port.postMessage({ id, ...msg });
  });
}

describe('guardedEndpoint', () => {
  it('lets listed method calls with plain data through', async () => {
    const { remote, calls } = exposeGuarded();
    expect(await remote.echo({ a: 1 })).toEqual({ a: 1 });
    expect(calls).toEqual(['echo']);
  });

  it('refuses GET, SET, CONSTRUCT, ENDPOINT and deep or unlisted paths', async () => {
    const { port, facade } = exposeGuarded();
    for (const msg of [
      { type: 'GET', path: ['hidden'] },
      { type: 'SET', path: ['hidden'], value: { type: 'RAW', value: 1 } },
      { type: 'CONSTRUCT', path: ['echo'], argumentList: [] },
      { type: 'ENDPOINT' },
      { type: 'APPLY', path: ['echo', 'constructor'], argumentList: [{ type: 'RAW', value: 'return 1' }] },
      { type: 'APPLY', path: ['hidden'], argumentList: [] },
      { type: 'APPLY', path: ['__proto__'], argumentList: [] },
    ]) {
      const answer = await raw(port as unknown as MessagePort, msg);
      expect(answer).toMatchObject({ type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: 'PermissionError' } } });
    }
    expect(facade.hidden).toEqual({ key: 'private' });
  });

  it('refuses proxy (callback) arguments', async () => {
    const { port, calls } = exposeGuarded();
    const answer = await raw(port as unknown as MessagePort, { type: 'APPLY', path: ['echo'], argumentList: [{ type: 'HANDLER', name: 'proxy', value: null }] });
    expect(answer).toMatchObject({ name: 'throw' });
    expect(calls).toEqual([]);
  });
});
