// The per-AID wiring in Node: two Accounts (worker/account.ts) with their own keystores (fake
// IndexedDB) against a dev gateway started in-process, over real sockets. A sent message is
// pushed, pulled, decrypted, committed once and published once; a recall redacts it on both
// sides; an eviction abandons what waits in the outbox.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gateway } from '../../../gateway/server.ts';
import { CloseCode, ValidationError } from '../../../protocol/errors.ts';
import type { JsonObject } from '../../../protocol/frames.ts';
import type { MethodName } from '../../../protocol/methods.ts';
import type { InboundMessage, MessageRecalled, TabEventMap } from '../../../protocol/tab.ts';
import { Account, type AccountOutlet } from '../../../worker/account.ts';
import { createIdentity, importSigningKey } from '../../../worker/auth/identity.ts';
import { shortRpc } from '../../../worker/auth/short-rpc.ts';
import { signDer } from '../../../worker/auth/sign.ts';
import { toBase64, utf8 } from '../../../protocol/bytes.ts';
import { TrustStore } from '../../../worker/auth/trust.ts';
import type { LoggedEvent } from '../../../worker/delivery/journal.ts';
import { IK } from '../../../worker/identities.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';
import { WS } from '../auth/helpers.ts';
import { adminPost, newAid, testGateway } from '../../support/gateway.ts';

/** The hub as an Account sees it: what it was handed, in order. */
class Outlet implements AccountOutlet {
  readonly logged: LoggedEvent[] = [];
  readonly live: { name: string; data: unknown }[] = [];
  publishLogged(_aid: string, events: LoggedEvent[]): void {
    this.logged.push(...events);
  }
  publish<E extends 'state' | 'raw' | 'send.failed' | 'notify'>(_aid: string, name: E, data: TabEventMap[E]): void {
    this.live.push({ name, data });
  }
  tabCount(): number {
    return 1;
  }
  named(name: string): LoggedEvent[] {
    return this.logged.filter((e) => e.name === name);
  }
}

interface Opened { a: Account; store: Store; outlet: Outlet; rpcs: MethodName[] }

let gw: Gateway;
const opened: Account[] = [];
const realWebSocket = (globalThis as { WebSocket?: unknown }).WebSocket;

beforeAll(async () => {
  // The Account opens its socket the browser's way (globalThis.WebSocket); in Node that is `ws`.
  (globalThis as { WebSocket?: unknown }).WebSocket = WS;
  gw = await testGateway();
});
afterAll(async () => {
  for (const a of opened) a.close();
  await gw.close();
  (globalThis as { WebSocket?: unknown }).WebSocket = realWebSocket;
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms));

/** A new identity registered at the gateway, its key and record in a fresh keystore, not started. */
async function registered(prefix: string) {
  const aid = newAid(prefix, gw.config.issuer);
  const made = await createIdentity(aid, { url: gw.url, trust: new TrustStore([gw.rootPem]), WebSocketImpl: WS });
  if (made.kind !== 'new-key') throw new Error('expected a new key');
  const store = await openStore({ name: `account-${aid}`, idbFactory: new IDBFactory() });
  await store.keys.put(aid, IK, made.pkcs8);
  const keys = (await store.keys.load(aid, IK))!;
  const now = Date.now();
  const record = { aid, certPem: made.certPem, gatewayUrl: gw.url, createdAt: now, updatedAt: now };
  await store.identities.put(record);
  const deviceId = await store.deviceId();
  const open = (outlet = new Outlet()) => {
    const a = new Account({ record, keys, roots: [gw.rootPem], store, deviceId, outlet });
    opened.push(a);
    return a;
  };
  return { aid, made, store, record, open };
}

/** A new identity registered at the gateway, its key in a fresh keystore, its Account started and ready. */
async function account(prefix: string): Promise<Opened> {
  const { store, open } = await registered(prefix);
  const outlet = new Outlet();
  const a = open(outlet);
  // Every gateway call the account's parts make goes through its one session.
  const rpcs: MethodName[] = [];
  const call = a.session.call.bind(a.session);
  vi.spyOn(a.session, 'call').mockImplementation(((method: MethodName, ...rest: unknown[]) => {
    rpcs.push(method);
    return (call as (...args: unknown[]) => unknown)(method, ...rest);
  }) as typeof a.session.call);
  await a.start();
  await until(`${prefix} ready`, () => a.snapshot().state === 'ready');
  return { a, store, outlet, rpcs };
}

describe('Account: one logged-in AID wired together', () => {
  let alice: Opened;
  let bob: Opened;

  beforeAll(async () => {
    alice = await account('alice');
    bob = await account('bob');
  });

  it('a pushed E2EE message is pulled, opened, committed once and published once to the hub', async () => {
    const sent = await alice.a.send(bob.a.aid, { type: 'text', text: 'hello bob' }, true);
    expect(sent.status).not.toBe('queued');
    await until('bob logs the message', () => bob.outlet.named('message').length > 0);
    await settle();

    const got = bob.outlet.named('message');
    expect(got).toHaveLength(1);
    const m = got[0]!.data as InboundMessage;
    expect(m).toMatchObject({ aid: bob.a.aid, from: alice.a.aid, payload: { type: 'text', text: 'hello bob' }, encrypted: true, direction: 'inbound' });
    // The push came first (published raw), and only the pull brought the row.
    expect(bob.outlet.live.some((e) => e.name === 'raw')).toBe(true);
    expect(bob.rpcs).toContain('message.v2.pull');
    // Committed once: one log entry, and the cursor past its seq.
    const log = await bob.a.replay(0, 100);
    expect(log.events.filter((e) => e.name === 'message')).toHaveLength(1);
    expect(log.events[0]!.lsn).toBe(got[0]!.lsn);
    expect(await bob.store.cursors.get(bob.a.aid, 'p2p')).toBe(m.seq);
    await until('bob acks', () => bob.rpcs.includes('message.v2.ack'));
    // The sender's other tabs see it too: one outbound event.
    expect(alice.outlet.named('message').map((e) => (e.data as InboundMessage).direction)).toEqual(['outbound']);
  });

  it('a payload with values JSON has not (a Date, NaN, undefined) is sent, signed, encrypted and logged in its JSON form', async () => {
    // Before: the call was signed over the params as given (a Date hashes as {}) and sent as JSON
    // (the Date as its ISO text), and the gateway refused the signature.
    const wire = { type: 'text', text: 'odd values', at: '1970-01-01T00:00:00.000Z', n: null };
    for (const encrypt of [false, true]) {
      const payload = { type: 'text', text: 'odd values', at: new Date(0), n: Number.NaN, gone: undefined } as unknown as JsonObject;
      const sent = await alice.a.send(bob.a.aid, payload, encrypt);
      expect(sent.status).not.toBe('queued');
      const id = (sent as { message_id: string }).message_id;
      const logged = (o: Opened) => o.outlet.named('message').find((e) => (e.data as InboundMessage).messageId === id);
      await until('bob logs it', () => !!logged(bob));
      await until('alice logs it', () => !!logged(alice));
      expect((logged(bob)!.data as InboundMessage).payload).toStrictEqual(wire);
      expect((logged(alice)!.data as InboundMessage).payload).toStrictEqual(wire);
      expect(((await alice.a.replay(logged(alice)!.lsn - 1, 1)).events[0]!.data as InboundMessage).payload).toStrictEqual(wire);
    }
  });

  it('a thought with a Date is read back in its JSON form, not as the {} canonical JSON made of it', async () => {
    const context = { type: 'task', id: 't-json' };
    await alice.a.actions.thoughtPut({ to: bob.a.aid }, context, { step: 'plan', at: new Date(0) } as unknown as JsonObject);
    const got = await bob.a.actions.thoughtGet({ to: alice.a.aid, sender: alice.a.aid }, context);
    expect(got.map((t) => t.payload)).toStrictEqual([{ step: 'plan', at: '1970-01-01T00:00:00.000Z' }]);
  });

  it('a payload with no JSON form (a BigInt) is refused with a ValidationError, and nothing is queued', async () => {
    const before = (await alice.store.outbox.list(alice.a.aid)).length;
    await expect(alice.a.send(bob.a.aid, { n: 1n } as unknown as JsonObject, false)).rejects.toBeInstanceOf(ValidationError);
    await expect(alice.a.groupSend('g-none', { n: 1n } as unknown as JsonObject, true)).rejects.toThrow(/the payload is not JSON/);
    expect((await alice.store.outbox.list(alice.a.aid)).length).toBe(before);
  });

  it('a recall redacts the message in both logs and publishes one recall event to each side', async () => {
    const sent = await alice.a.send(bob.a.aid, { type: 'text', text: 'take this back' }, true);
    const id = (sent as { message_id: string }).message_id;
    await until('bob logs it', () => bob.outlet.named('message').some((e) => (e.data as InboundMessage).messageId === id));
    const original = bob.outlet.named('message').find((e) => (e.data as InboundMessage).messageId === id)!;

    const outcome = await alice.a.actions.recall([id], null, '');
    expect(outcome).toEqual({ recalled: [id], errors: [] });
    await until('bob logs the recall', () => bob.outlet.named('message.recalled').length > 0);
    await settle();

    const recalls = bob.outlet.named('message.recalled');
    expect(recalls).toHaveLength(1);
    expect(recalls[0]!.data as MessageRecalled).toMatchObject({ from: alice.a.aid, messageIds: [id], originals: [{ messageId: id, lsn: original.lsn }] });
    const bobLog = await bob.a.replay(original.lsn - 1, 1);
    expect(bobLog.events[0]!.data).toMatchObject({ messageId: id, payload: {}, recalled: true });
    expect(JSON.stringify(bobLog.events[0]!.data)).not.toContain('take this back');
    expect(alice.outlet.named('message.recalled')).toHaveLength(1);
    const aliceLog = await alice.a.replay(0, 100);
    expect(aliceLog.events.find((e) => e.name === 'message' && (e.data as InboundMessage).messageId === id)!.data).toMatchObject({ payload: {}, recalled: true });
  });

  it('a closed account stops its outbox: a queued send stays stored as it was, for the next login, and is not retried', async () => {
    const dave = await account('dave');
    await adminPost(gw, 'pause');
    const queued = await dave.a.send(bob.a.aid, { type: 'text', text: 'before logout' }, false, 300);
    expect(queued.status).toBe('queued');
    const puts = vi.spyOn(dave.store.outbox, 'put');
    dave.a.close();
    await adminPost(gw, 'resume');
    // Past the outbox's retry delay (2 s): a running outbox would have written the entry back.
    await settle(2_500);
    expect(puts).not.toHaveBeenCalled();
    expect((await dave.store.outbox.list(dave.a.aid)).map((i) => [i.id, i.attempts])).toEqual([[queued.message_id, 0]]);
  });

  it('an eviction abandons the outbox: what waited is reported as send.failed and leaves the store', async () => {
    const carol = await account('carol');
    await adminPost(gw, 'pause');
    // The gateway holds every frame: the first send is in flight, the second waits behind it.
    const first = await carol.a.send(bob.a.aid, { type: 'text', text: 'one' }, false, 300);
    const second = await carol.a.send(bob.a.aid, { type: 'text', text: 'two' }, false, 300);
    expect(first.status).toBe('queued');
    expect(second.status).toBe('queued');
    expect(await carol.store.outbox.list(carol.a.aid)).toHaveLength(2);
    // Another connection took the identity over (the admin closes every socket: this test runs last).
    await adminPost(gw, 'close', { code: CloseCode.Evicted, reason: 'taken over' });
    await adminPost(gw, 'resume');
    await until('carol evicted', () => carol.a.snapshot().state === 'evicted');
    await until('the waiting send is reported', () => carol.outlet.live.some((e) => e.name === 'send.failed'));
    const failed = carol.outlet.live.filter((e) => e.name === 'send.failed').map((e) => (e.data as TabEventMap['send.failed']).messageId);
    expect(failed).toContain(second.message_id);
    await until('the outbox is empty', async () => (await carol.store.outbox.list(carol.a.aid)).length === 0);
  });
});

describe('Account: a certificate renewed elsewhere', () => {
  it('is taken at the next login and kept in the identity record for the next start', async () => {
    const { aid, made, store, record, open } = await registered('renewed');
    // Another device of the AID (same key) renews its certificate before this one logs in.
    const signer = await importSigningKey(made.pkcs8);
    const l1 = await shortRpc(gw.url, 'auth.aid_login1', { aid, client_nonce: 'n-elsewhere' }, { WebSocketImpl: WS });
    const signature = toBase64(await signDer(signer, utf8(l1.nonce)));
    const renewed = (await shortRpc(gw.url, 'auth.renew_cert', { aid, request_id: l1.request_id, nonce: l1.nonce, signature }, { WebSocketImpl: WS })).cert;

    const a = open();
    await a.start();
    await until('ready', () => a.snapshot().state === 'ready');
    await until('the renewed certificate stored', async () => (await store.identities.get(aid))?.certPem === renewed);
    expect((await store.identities.get(aid))?.createdAt).toBe(record.createdAt);
  });
});
