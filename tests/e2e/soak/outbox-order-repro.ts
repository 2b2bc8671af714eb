// Minimal reproduction of the order violation the soak test found, kept as a regression check
// (run it alone: `npx tsx tests/e2e/soak/outbox-order-repro.ts`; exit code 1 = the bug is back).
//
// Before dd76ef0, worker/delivery/outbox.ts `submit()` attempted a new message at once, whatever
// was still queued for the same conversation, and `flush()` (run on every ready) sent the queued
// ones one after another from a snapshot of the store. A send issued while older sends waited in
// the outbox reached the gateway before them, and the gateway's seq (what every receiver orders
// by) followed; the stale snapshot also re-sent entries a concurrent attempt had already sent.
// Wiring as in worker/account.ts: every attempt waits for a ready session up to its deadline
// (session.call with waitReady), and a ready session triggers outbox.flush().

import { ConnectionLostError, TimeoutError } from '../../../protocol/errors.ts';
import { Outbox, type OutboxEntry } from '../../../worker/delivery/outbox.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function world() {
  const rows = new Map<string, OutboxEntry>();
  // IndexedDB answers in a later task, not in a microtask.
  const store = {
    outbox: {
      put: async (_aid: string, e: OutboxEntry) => { await sleep(0); rows.set(e.id, e); },
      list: async () => { await sleep(0); return [...rows.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)); },
      remove: async (_aid: string, id: string) => { await sleep(0); rows.delete(id); },
    },
  };
  let ready = false;
  let onReady: (() => void)[] = [];
  const gateway: string[] = [];
  const whenReady = (timeoutMs = 35_000) => (ready ? Promise.resolve() : new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError('not ready before the deadline')), timeoutMs);
    onReady.push(() => { clearTimeout(t); resolve(); });
  }));
  const outbox = new Outbox<string>({
    aid: 'sender',
    store,
    send: async (entry, timeoutMs) => {
      await whenReady(timeoutMs);
      await sleep(5); // encrypt + one round trip
      if (!ready) throw new ConnectionLostError('socket closed');
      gateway.push(entry.id);
      return 'ok';
    },
    sent: async () => {},
    failed: () => {},
  });
  let clock = 0;
  const entry = (id: string): OutboxEntry => ({ id, kind: 'p2p', body: { to: 'receiver', payload: { text: id }, encrypt: false }, createdAt: ++clock, attempts: 0 });
  const becomeReady = () => {
    ready = true;
    const waiters = onReady;
    onReady = [];
    waiters.forEach((w) => w());
    return outbox.flush(); // what Account's onStateChange does on 'ready'
  };
  return { outbox, gateway, entry, becomeReady };
}

async function scenario(name: string, run: (w: ReturnType<typeof world>) => Promise<void>, want: string[]): Promise<boolean> {
  const w = world();
  await run(w);
  await sleep(200);
  // The gateway dedups a resend by message_id: what counts is the order of first arrival.
  const first = [...new Set(w.gateway)];
  const ok = JSON.stringify(first) === JSON.stringify(want);
  const resent = w.gateway.length - first.length;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}\n     submitted ${want.join(', ')}; the gateway got ${w.gateway.join(', ')}${resent ? ` (${resent} needless resend)` : ''}`);
  return ok;
}

const results = [
  await scenario('a send issued while the flush after a reconnect is still sending the queued ones', async ({ outbox, entry, becomeReady }) => {
    for (const id of ['a1', 'a2', 'a3']) console.assert((await outbox.submit(entry(id), 20)) === null, `${id} should be queued`);
    await sleep(50); // the reconnect takes longer than their deadlines: their attempts gave up
    const flushing = becomeReady();
    await sleep(1);
    await outbox.submit(entry('c'), 1000);
    await flushing;
  }, ['a1', 'a2', 'a3', 'c']),
  await scenario('a send waiting for the session when it becomes ready, with an older one queued', async ({ outbox, entry, becomeReady }) => {
    console.assert((await outbox.submit(entry('a'), 20)) === null, 'a should be queued');
    await sleep(50);
    const b = outbox.submit(entry('b'), 1000);
    await sleep(5);
    await becomeReady();
    await b;
  }, ['a', 'b']),
];
process.exit(results.every(Boolean) ? 0 : 1);
