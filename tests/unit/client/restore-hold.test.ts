// A tab re-attaching (its owner moved or restarted) logs back in to its AID, then reads what was
// logged while it had no owner. Live events can reach it before the login's answer: they come on
// the event port, the answer on the rpc port, in no fixed order. Handed out at once, such an event
// lifted the tab's cursor past what it had missed, and the catch-up then skipped it (or, with a
// cursor past the answer's end, read the whole log again). They wait for the catch-up now.
import { describe, expect, it, vi } from 'vitest';
import type { InboundMessage, LogPage } from '../../../protocol/tab.ts';
import { clientOnFakeOwner, fakeOwner } from '../../support/fake-owner.ts';

const A = 'a.aun.local';
const msg = (lsn: number): LogPage['events'][number] => ({
  lsn, name: 'message',
  data: { aid: A, messageId: `m-${lsn}`, from: 'bob.aun.local', to: A, seq: lsn, timestamp: 0, payload: {}, encrypted: false, direction: 'inbound' },
});
const LOG = Array.from({ length: 16 }, (_, i) => msg(i + 1));

describe('a tab re-attaching', () => {
  const connectTo = clientOnFakeOwner();

  it.each([
    ['the answer counts the live event', 16],
    ['the answer is older than the live event', 15],
  ])('hands out what it missed and the live event once, in order (%s)', async (_what, answerLsn) => {
    let answerRestore: (() => void) | null = null;
    const owner = fakeOwner((method) => {
      if (method === 'login') {
        const n = owner.calls.filter(([m]) => m === 'login').length;
        if (n === 1) return { ok: true, value: { aid: A, state: 'ready', detail: {}, lastLsn: 10 } };
        return new Promise((r) => (answerRestore = () => r({ ok: true, value: { aid: A, state: 'ready', detail: {}, lastLsn: answerLsn } })));
      }
      if (method === 'replay') {
        const [, after, limit] = owner.calls.at(-1) as [string, number, number];
        return { ok: true, value: { events: LOG.filter((e) => e.lsn > after && e.lsn <= answerLsn).slice(0, limit), lastLsn: answerLsn } };
      }
      return { ok: true, value: undefined };
    });
    const client = await connectTo(owner);
    const seen: number[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m.seq));
    await client.login(A);
    expect(client.cursor).toBe(10);
    // The owner hands over; while the tab is away, 11–15 are logged.
    owner.post({ t: 'draining', to: null });
    await vi.waitFor(() => expect(answerRestore).not.toBeNull());
    owner.post({ t: 'events', list: [msg(16)] }); // live, before the login's answer
    await new Promise((r) => setTimeout(r, 20));
    answerRestore!();
    await vi.waitFor(() => expect(seen).toContain(16));
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([11, 12, 13, 14, 15, 16]);
    expect(client.cursor).toBe(16);
  });
});
