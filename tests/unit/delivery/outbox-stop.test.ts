// A closed account (logout, removeIdentity, the end of a handoff) stops its outbox. Its session
// answers every attempt with a transient SessionError; an outbox left running retried for ever and
// wrote each entry back with one more attempt, even after a new account for the same AID had
// sent and removed it.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../../../protocol/errors.ts';
import { Outbox, type OutboxEntry } from '../../../worker/delivery/outbox.ts';
import { openStore } from '../../../worker/store/index.ts';

const AID = 'alice.aun.local';
const RETRY_MS = 2_000;

const entry = (id: string): OutboxEntry => ({ id, kind: 'p2p', body: { to: 'bob.aun.local', payload: { type: 'text', text: id }, encrypt: true }, createdAt: Date.now(), attempts: 0 });

describe('Outbox.stop', () => {
  it('a stopped outbox neither retries nor writes back an entry the next account sent', async () => {
    const store = await openStore({ name: `outbox-stop-${Math.random()}`, idbFactory: new IDBFactory() });
    let attempts = 0;
    const old = new Outbox<string>({
      aid: AID, store,
      send: async () => {
        attempts++;
        throw new SessionError('session alice.aun.local is closed, not ready (call start() first)');
      },
      sent: async () => {}, failed: () => {},
    });
    expect(await old.submit(entry('m-1'), 300)).toBeNull();
    old.stop();
    // The tab logged in again: the new account's outbox sends the entry and removes it.
    const sent: string[] = [];
    const fresh = new Outbox<string>({ aid: AID, store, send: async (e) => `ok ${e.id}`, sent: async (e) => void sent.push(e.id), failed: () => {} });
    await fresh.flush();
    expect(sent).toEqual(['m-1']);
    await new Promise((r) => setTimeout(r, RETRY_MS + 500));
    expect(attempts).toBe(1);
    expect(await store.outbox.list(AID)).toEqual([]);
  }, 10_000);

  it('a send on a stopped outbox is refused with a SessionError and nothing is stored', async () => {
    const store = await openStore({ name: `outbox-stop-${Math.random()}`, idbFactory: new IDBFactory() });
    const box = new Outbox<string>({ aid: AID, store, send: async (e) => `ok ${e.id}`, sent: async () => {}, failed: () => {} });
    box.stop();
    await expect(box.submit(entry('m-late'), 1_000)).rejects.toBeInstanceOf(SessionError);
    expect(await store.outbox.list(AID)).toEqual([]);
  });
});
