// The client's calls (client-stub/calls.ts) against a fake owner (Node MessagePorts, Comlink):
// the tab's own deadline, abort, and what a send carries.
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../../client-stub/index.ts';
import { TAB_MARGIN_MS } from '../../../protocol/deadline.ts';
import { clientOnFakeOwner, fakeOwner } from '../../support/fake-owner.ts';

/** An owner that records every facade call; `call` never answers, the rest answer ok. */
const silentOwner = () => fakeOwner((method) =>
  method === 'call' ? new Promise(() => {}) : { ok: true, value: method === 'send' ? { message_id: 'm1', status: 'queued' } : undefined });

describe('calls', () => {
  const connectTo = clientOnFakeOwner();

  it('a call the owner never answers rejects with TimeoutError just after its deadline, and is cancelled at the owner', async () => {
    const owner = silentOwner();
    const client = await connectTo(owner);
    const started = Date.now();
    await expect(client.call('meta.ping', {}, { timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100 + TAB_MARGIN_MS - 5);
    await new Promise((r) => setTimeout(r, 20));
    const call = owner.calls.find(([m]) => m === 'call')!;
    expect(call.slice(2)).toEqual(['meta.ping', {}, { timeoutMs: 100 }]);
    expect(owner.calls.find(([m]) => m === 'cancel')).toEqual(['cancel', call[1]]);
  });

  it('an aborted call rejects at once with the abort reason', async () => {
    const owner = silentOwner();
    const client = await connectTo(owner);
    const ac = new AbortController();
    const p = client.call('meta.ping', {}, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user left')), 10);
    await expect(p).rejects.toThrow('user left');
  });

  it('a send carries the recipient, the payload and its options, and no call id', async () => {
    const owner = silentOwner();
    const client = await connectTo(owner, { timeoutMs: 5_000 });
    expect(await client.send('bob.aun.local', { text: 'hi' })).toEqual({ message_id: 'm1', status: 'queued' });
    expect(owner.calls.find(([m]) => m === 'send')).toEqual(['send', 'bob.aun.local', { text: 'hi' }, { timeoutMs: 5_000, encrypt: true }]);
  });
});
