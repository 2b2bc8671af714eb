// A tab that switches from AID X to AID Y: X's logged events that reach it during login(Y) (the
// owner moves the tab only once Y's account is up) are held with the login's other live events.
// Handed out after the answer, they were shown as Y's and lifted the cursor past Y's lsns, so Y's
// own events up to there were dropped. They are X's, and are dropped instead.
import { describe, expect, it, vi } from 'vitest';
import type { InboundMessage, LogPage } from '../../../protocol/tab.ts';
import { clientOnFakeOwner, fakeOwner } from '../../support/fake-owner.ts';

const X = 'x.aun.local';
const Y = 'y.aun.local';
const msg = (aid: string, lsn: number): LogPage['events'][number] => ({
  lsn, name: 'message',
  data: { aid, messageId: `${aid}-${lsn}`, from: 'bob.aun.local', to: aid, seq: lsn, timestamp: 0, payload: {}, encrypted: false, direction: 'inbound' },
});

describe('a tab that switches AIDs', () => {
  const connectTo = clientOnFakeOwner();

  it('gets every event of the new AID, and none of the old one after the switch', async () => {
    let answerY!: () => void;
    const owner = fakeOwner((method) => {
      if (method === 'login') return owner.calls.filter(([m]) => m === 'login').length === 1
        ? { ok: true, value: { aid: X, state: 'ready', detail: {}, lastLsn: 5000 } }
        : new Promise((r) => (answerY = () => r({ ok: true, value: { aid: Y, state: 'ready', detail: {}, lastLsn: 10 } })));
      return { ok: true, value: method === 'replay' ? { events: [], lastLsn: 10 } : undefined };
    });
    const client = await connectTo(owner);
    const seen: string[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m.messageId));
    await client.login(X);
    const switching = client.login(Y);
    await vi.waitFor(() => expect(answerY).toBeDefined());
    owner.post({ t: 'events', list: [msg(X, 5001)] }); // X got a message just before the owner moved the tab to Y
    await new Promise((r) => setTimeout(r, 20));
    answerY();
    await switching;
    owner.post({ t: 'events', list: [msg(Y, 11), msg(Y, 12)] });
    await new Promise((r) => setTimeout(r, 50));
    expect({ seen, cursor: client.cursor }).toEqual({ seen: ['y.aun.local-11', 'y.aun.local-12'], cursor: 12 });
  });
});
