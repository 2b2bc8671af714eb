// What the outbox does once the gateway took a message and the local bookkeeping after it fails:
// the record in the log (`sent`) or the removal from IndexedDB. The message is sent either way:
// its sender gets the gateway's result, the entries behind it are not touched, and a stored row
// is not left for a later worker to send again. And a recall (withdraw) whose removal fails
// leaves the entry queued, so memory and the store agree.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { ConnectionLostError } from '../../../protocol/errors.ts';
import { Outbox, type OutboxEntry } from '../../../worker/delivery/outbox.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';

const AID = 'alice.aun.local';

const entry = (id: string): OutboxEntry => ({ id, kind: 'p2p', body: { to: 'bob.aun.local', payload: { type: 'text', text: id }, encrypt: true }, createdAt: Date.now(), attempts: 0 });
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** How a promise stands after `ms`: its value, its error's message, or still pending. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then((value) => ({ value }), (e: Error) => ({ error: e.message })), tick(ms).then(() => 'pending' as const)]);

async function fresh(): Promise<{ store: Store; reopen: () => Promise<Store> }> {
  const factory = new IDBFactory();
  const name = `outbox-accepted-${Math.random()}`;
  return { store: await openStore({ name, idbFactory: factory }), reopen: () => openStore({ name, idbFactory: factory }) };
}

/** The store, with `outbox.remove` refusing while `refuse()` says so (as IndexedDB does on an aborted transaction). */
function refusingRemove(store: Store, refuse: (id: string) => boolean): Store {
  const remove = (aid: string, id: string) => (refuse(id) ? Promise.reject(new Error('remove failed: transaction aborted')) : store.outbox.remove(aid, id));
  return { ...store, outbox: { ...store.outbox, remove } };
}

/** What a later worker's outbox on `store` sends when it flushes (a row left behind goes out again). */
async function sentByLater(store: Store): Promise<string[]> {
  const sent: string[] = [];
  await new Outbox<string>({ aid: AID, store, send: async (e) => (sent.push(e.id), 'ok'), sent: async () => {}, failed: () => {} }).flush();
  return sent;
}

/** An outbox whose gateway cannot be reached until `online()`; `gateway` lists what reached it. */
function offlineOutbox(store: Store) {
  let online = false;
  const gateway: string[] = [];
  const box = new Outbox<string>({
    aid: AID, store,
    send: async (e) => {
      if (!online) throw new ConnectionLostError('offline');
      gateway.push(e.id);
      return `ok ${e.id}`;
    },
    sent: async () => {}, failed: () => {},
  });
  return { box, gateway, online: () => void (online = true) };
}

describe('Outbox: the gateway took the message, the bookkeeping after it fails', () => {
  it('a failed record in the log still answers the gateway result and sends the next entry', async () => {
    const { store } = await fresh();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const attempts: string[] = [];
    const recorded: string[] = [];
    const failed: string[] = [];
    const logged: string[] = [];
    const box = new Outbox<string>({
      aid: AID, store,
      send: async (e) => {
        attempts.push(e.id);
        if (e.id === 'a') await gate;
        return `ok ${e.id}`;
      },
      sent: async (e) => {
        if (e.id === 'a') throw new Error('QuotaExceededError: the log refused the write');
        recorded.push(e.id);
      },
      failed: (e) => void failed.push(e.id),
      log: (line) => void logged.push(line),
    });
    const a = box.submit(entry('a'), 5_000);
    await tick();
    const b = box.submit(entry('b'), 5_000);
    await tick();
    release();
    expect(await within(b, 1_000)).toEqual({ value: 'ok b' });
    expect(await within(a, 1_000)).toEqual({ value: 'ok a' });
    expect(attempts).toEqual(['a', 'b']);
    expect(recorded).toEqual(['b']);
    expect(failed).toEqual([]);
    expect(logged.some((l) => l.includes('a') && l.includes('QuotaExceededError'))).toBe(true);
    expect(await store.outbox.list(AID)).toEqual([]);
  });

  it('a failed removal from the store still answers the gateway result and records it; the row is removed again before the next send', async () => {
    const { store, reopen } = await fresh();
    let refuse = true;
    const flaky = refusingRemove(store, () => refuse);
    const recorded: string[] = [];
    const logged: string[] = [];
    const box = new Outbox<string>({ aid: AID, store: flaky, send: async (e) => `ok ${e.id}`, sent: async (e) => void recorded.push(e.id), failed: () => {}, log: (line) => void logged.push(line) });
    expect(await within(box.submit(entry('m'), 1_000), 1_000)).toEqual({ value: 'ok m' });
    expect(recorded).toEqual(['m']);
    expect(logged.some((l) => l.includes('remove failed'))).toBe(true);
    // The store refused once; the next pass of this outbox removes the row, so no later worker sends it.
    refuse = false;
    expect(await box.submit(entry('n'), 1_000)).toBe('ok n');
    expect(await sentByLater(await reopen())).toEqual([]);
  });
});

describe('Outbox: withdraw', () => {
  it('a withdraw the store refuses reports the failure and keeps the entry queued, in memory as in the store', async () => {
    const { store, reopen } = await fresh();
    let refuse = false;
    const { box, gateway, online } = offlineOutbox(refusingRemove(store, () => refuse));
    expect(await box.submit(entry('r'), 300)).toBeNull();
    await tick(50);
    refuse = true;
    await expect(box.withdraw('r', new Error('withdrawn'))).rejects.toThrow('remove failed');
    expect((await store.outbox.list(AID)).map((i) => i.id)).toEqual(['r']);
    // Still queued here: this outbox sends it (the recall did not happen), as a later worker would.
    refuse = false;
    online();
    await box.flush();
    expect(gateway).toEqual(['r']);
    expect(await sentByLater(await reopen())).toEqual([]);
  });

  it('while a withdraw waits for the store, its entry is not sent and nothing behind it overtakes it; when the store refuses, both go in order', async () => {
    const { store } = await fresh();
    // The withdraw's removal of 'r' waits for finish(); every other removal goes through.
    let finish: ((ok: boolean) => void) | null = null;
    const slow = {
      ...store,
      outbox: {
        ...store.outbox,
        remove: (aid: string, id: string) => (id === 'r' && finish === null
          ? new Promise<void>((resolve, reject) => (finish = (ok) => (ok ? resolve() : reject(new Error('remove failed')))))
          : store.outbox.remove(aid, id)),
      },
    };
    const { box, gateway, online } = offlineOutbox(slow);
    expect(await box.submit(entry('r'), 300)).toBeNull();
    expect(await box.submit(entry('s'), 300)).toBeNull();
    await tick(50);
    const recall = box.withdraw('r', new Error('withdrawn'));
    await tick();
    online();
    await box.flush();
    expect(gateway).toEqual([]);
    finish!(false);
    await expect(recall).rejects.toThrow('remove failed');
    await tick(50);
    expect(gateway).toEqual(['r', 's']);
  });

  it('a withdraw that succeeds takes the entry out of the store, and its sender sees the refusal', async () => {
    const { store, reopen } = await fresh();
    const { box, gateway, online } = offlineOutbox(store);
    const waiting = box.submit(entry('r'), 5_000);
    await tick(50);
    const withdrawn = new Error('withdrawn');
    expect(await box.withdraw('r', withdrawn)).toBe(true);
    await expect(waiting).rejects.toBe(withdrawn);
    online();
    await box.flush();
    expect(gateway).toEqual([]);
    expect(await sentByLater(await reopen())).toEqual([]);
  });
});
