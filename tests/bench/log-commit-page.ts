// Browser side of tests/bench/log-commit.ts: the Store's log.commit (schema v4, one row per
// commit) next to the layout it replaced (schema v3: one row per entry, indexes by_aid and a unique
// by_key, each key read before its put), timed one commit at a time on databases prefilled alike.

import { openDB, type IDBPDatabase } from 'idb';
import { openStore } from '../../worker/store/index.ts';
import type { LogInput, Store } from '../../worker/store/types.ts';

const AID = 'alice.bench.example';
let n = 0;

/** A message event of ordinary size, as the journal logs it. */
function input(): LogInput {
  const id = `m${++n}-${Math.random().toString(36).slice(2)}`;
  const data = { message_id: id, from: 'bob.bench.example', to: AID, seq: n, timestamp: Date.now(), payload: { type: 'text', text: 'an ordinary chat message, a sentence or two long. '.repeat(2) }, encrypted: false };
  return { key: `p2p:bob.bench.example:${id}`, kind: 'message', data };
}

/** The v3 log.commit (worker/store/store.ts before schema v4), on a v3 layout of its own. */
async function v3Commit(db: IDBPDatabase, ins: LogInput[], seq: number): Promise<void> {
  const tx = db.transaction(['log', 'cursors'], 'readwrite');
  const log = tx.objectStore('log');
  const byKey = log.index('by_key');
  const [top, found] = await Promise.all([log.index('by_aid').openKeyCursor(AID, 'prev'), Promise.all(ins.map((i) => byKey.getKey([AID, i.key])))]);
  let lsn = top === null ? 0 : (top.primaryKey as [string, number])[1];
  const at = Date.now();
  const writes: Promise<unknown>[] = [tx.done, tx.objectStore('cursors').put({ aid: AID, ns: 'p2p:bob', seq })];
  ins.forEach((input, i) => {
    if (found[i] === undefined) writes.push(log.put({ aid: AID, lsn: ++lsn, key: input.key, kind: input.kind, data: input.data, at }));
  });
  await Promise.all(writes);
}

let store: Store | undefined;
let v3: IDBPDatabase | undefined;

async function setup(prefill: number): Promise<void> {
  for (const name of ['bench-log-v4', 'bench-log-v3']) {
    await new Promise((resolve) => Object.assign(indexedDB.deleteDatabase(name), { onsuccess: resolve, onerror: resolve }));
  }
  store = await openStore({ name: 'bench-log-v4' });
  v3 = await openDB('bench-log-v3', 1, {
    upgrade(db) {
      const log = db.createObjectStore('log', { keyPath: ['aid', 'lsn'] });
      log.createIndex('by_aid', 'aid');
      log.createIndex('by_key', ['aid', 'key'], { unique: true });
      db.createObjectStore('cursors', { keyPath: ['aid', 'ns'] });
    },
  });
  for (let i = 0; i < prefill; i += 100) {
    const ins = Array.from({ length: 100 }, input);
    await store.log.commit(AID, { ns: 'p2p:bob', seq: n }, ins);
    await v3Commit(v3, ins, n);
  }
}

/** Milliseconds for one commit of `size` new inputs. */
async function commit(variant: 'v4' | 'v3', size: number): Promise<number> {
  const ins = Array.from({ length: size }, input);
  const t0 = performance.now();
  if (variant === 'v4') await store!.log.commit(AID, { ns: 'p2p:bob', seq: n }, ins);
  else await v3Commit(v3!, ins, n);
  return performance.now() - t0;
}

/** The unique multiEntry index refuses a logged key in Chromium too: the call lands once. */
async function check(): Promise<string> {
  const [a, b] = [input(), input()];
  const first = await store!.log.commit(AID, null, [a]);
  const again = await store!.log.commit(AID, null, [input(), a, b, b]);
  const lsns = again.map((e) => e?.lsn ?? null);
  const want = [first[0]!.lsn + 1, null, first[0]!.lsn + 2, null];
  const read = await store!.log.since(AID, first[0]!.lsn - 1, 10);
  const ok = JSON.stringify(lsns) === JSON.stringify(want) && read.map((e) => e.lsn).join() === [want[0]! - 1, want[0], want[2]].join();
  return ok ? 'ok' : `dedup check failed: ${JSON.stringify({ lsns, want, read: read.map((e) => e.lsn) })}`;
}

Object.assign(globalThis, { logBench: { setup, commit, check } });
document.title = 'ready';
