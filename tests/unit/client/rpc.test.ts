// The tab's RPC client (client-stub/rpc.ts) against the owner's real end: Comlink.expose behind
// the guard. Answers, thrown errors and refused methods come back as they would through Comlink.
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { remoteFacade } from '../../../client-stub/rpc.ts';
import { guardedEndpoint } from '../../../worker/hub/guard.ts';
import type { OwnerFacade } from '../../../protocol/tab.ts';

function owner(facade: object): OwnerFacade {
  const ch = new MessageChannel();
  Comlink.expose(facade, guardedEndpoint(ch.port2 as unknown as MessagePort, new Set(['logout', 'snapshot', 'subscribe'])));
  return remoteFacade(ch.port1 as unknown as MessagePort);
}

describe('remoteFacade', () => {
  it('calls a facade method with its arguments and resolves with its answer, calls in flight kept apart', async () => {
    const f = owner({
      subscribe: async (names: string[]) => {
        await new Promise((r) => setTimeout(r, names.length));
        return { ok: true, value: names };
      },
    });
    const [slow, fast] = await Promise.all([f.subscribe(['message', 'state', 'raw']), f.subscribe(['message'])]);
    expect(slow).toEqual({ ok: true, value: ['message', 'state', 'raw'] });
    expect(fast).toEqual({ ok: true, value: ['message'] });
  });

  it('rejects with what the owner threw, name and message kept', async () => {
    const f = owner({ logout: () => { throw new TypeError('boom'); } });
    await expect(f.logout()).rejects.toMatchObject({ name: 'TypeError', message: 'boom' });
  });

  it('a method the guard does not list is refused, never run', async () => {
    let ran = false;
    const f = owner({ inspect: () => { ran = true; } });
    await expect(f.inspect()).rejects.toMatchObject({ name: 'PermissionError', message: 'unknown method inspect' });
    expect(ran).toBe(false);
  });

  it('is no thenable: awaiting the facade itself gives the facade', async () => {
    const f = owner({});
    expect(await Promise.resolve(f)).toBe(f);
  });
});
