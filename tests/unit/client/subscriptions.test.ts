// The client against a fake owner (Node MessagePorts, Comlink): which facade calls a tab makes
// when the app registers handlers, and in what order relative to the calls that follow.
import { describe, expect, it } from 'vitest';
import type { SessionSnapshot } from '../../../protocol/tab.ts';
import { clientOnFakeOwner, fakeOwner } from '../../support/fake-owner.ts';

/** An owner that answers every facade call with `ok` (a ready session for `login`). */
function owned() {
  const snapshot: SessionSnapshot = { aid: 'alice.aun.local', state: 'ready', detail: {}, lastLsn: 0 };
  return fakeOwner((method) => ({ ok: true, value: method === 'login' ? snapshot : undefined }));
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('subscriptions', () => {
  const connectTo = clientOnFakeOwner();

  it('handlers registered in one task reach the owner as one subscribe call', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    client.on('message', () => {});
    client.on('state', () => {});
    client.on('group.message', () => {});
    client.on('message', () => {}); // a second handler: no new subscription
    await settle();
    expect(owner.calls.filter(([m]) => m === 'subscribe')).toEqual([['subscribe', ['message', 'state', 'group.message']]]);
  });

  it('a call made right after on() reaches the owner after the subscription', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    client.on('message', () => {});
    client.on('state', () => {});
    await client.login('alice.aun.local');
    expect(owner.calls.map(([m]) => m)).toEqual(['subscribe', 'login']);
  });

  it('a handler removed before its subscription went out costs no call at all', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    const off = client.on('undecryptable', () => {});
    off();
    client.on('message', () => {});
    await settle();
    expect(owner.calls).toEqual([['subscribe', ['message']]]);
  });
});
