// E2EE V2 between a tab (through the worker) and an independent AUN client in Node: encrypted by
// default both ways, prekeys published and rotated by the worker, bad envelopes reported as
// `undecryptable` without stopping the inbox.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { fromBase64 } from '../../protocol/bytes.ts';
import { decryptEnvelope, encryptP2P } from '../../worker/e2ee/envelope.ts';
import { Identity, makeSpk, Session } from '../support/aun-client.ts';
import { p256, targetsFrom } from '../support/e2ee-peer.ts';
import { openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
let ctx: BrowserContext;
let page: Page;
let aid: string;
let bob: Identity;
let b: Session;
let bobSpk: ReturnType<typeof makeSpk>;
/** Alice's device keys as they were before her prekey was consumed and rotated. */
let consumedPrekeyDevices: Obj[] = [];

type Obj = Record<string, unknown>;
const aun = (p: Page) => ({
  send: (to: string, payload: Obj, opts: Obj = {}) => p.evaluate(([t, pl, o]) =>
    (globalThis as unknown as { aun: { send(a: unknown, b: unknown, c: unknown): Promise<unknown> } }).aun.send(t, pl, o), [to, payload, opts] as const),
});

beforeAll(async () => {
  stack = await startStack();
  ctx = await stack.browser.newContext();
  aid = `alice${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
  page = await openTab(ctx, stack, aid);
  bob = new Identity(`bob${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
  await bob.register(stack.gateway.url);
  await bob.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
  b = await Session.open(stack.gateway.url, bob, { deviceId: 'bob-node' });
  bobSpk = makeSpk(bob);
  await b.call('message.v2.put_peer_pk', bobSpk.fields, { sign: true });
});
afterAll(async () => {
  b?.close();
  await ctx?.close();
  await stack?.close();
});

async function aliceDevices(): Promise<Obj[]> {
  const boot = await b.call<{ peer_devices: Obj[] }>('message.v2.bootstrap', { peer_aid: aid }, { sign: true });
  return boot.peer_devices;
}

describe('E2EE V2 with an independent AUN client', () => {
  it('the worker publishes a signed prekey for its device', async () => {
    const devices = await until('alice prekey', async () => {
      const d = await aliceDevices();
      return d.length && d[0]!.spk_id ? d : undefined;
    });
    expect(devices[0]).toMatchObject({ key_source: 'peer_device_prekey', spk_id: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) });
  });

  it('a tab sends encrypted by default (3DH to the peer\'s prekey); the peer decrypts it', async () => {
    const result = await aun(page).send(bob.aid, { type: 'text', text: 'for your eyes only' }) as Obj;
    expect(result).toMatchObject({ status: 'delivered' });
    const push = await b.waitEvent('peer.v2.message_received');
    const envelope = JSON.parse(String(push.envelope_json)) as Obj;
    expect(envelope).toMatchObject({ type: 'e2ee.p2p_encrypted', version: 'v2', aad: { from: aid, to: bob.aid } });
    expect(String(push.envelope_json)).not.toContain('for your eyes only');
    expect((envelope.aad as Obj).wrap_protocol).toBe('3DH');
    const aliceCert = await (await fetch(`${stack.gateway.httpUrl}/pki/cert/${aid}`)).text();
    const { X509Certificate } = await import('node:crypto');
    const aliceIk = new Uint8Array(new X509Certificate(aliceCert).publicKey.export({ format: 'der', type: 'spki' }));
    const opened = await decryptEnvelope(envelope, {
      selfAid: bob.aid, selfDeviceId: 'bob-node', ik: p256(bob.privateKey), spk: p256(bobSpk.privateKey), senderIkSpki: aliceIk,
    });
    expect(opened.payload).toEqual({ type: 'text', text: 'for your eyes only' });
  });

  it('plaintext goes out only when asked', async () => {
    await aun(page).send(bob.aid, { type: 'text', text: 'in the clear' }, { encrypt: false });
    expect(await b.waitEvent('message.received')).toMatchObject({ from: aid, payload: { type: 'text', text: 'in the clear' }, encrypted: false });
  });

  it('a message from the peer is decrypted in the worker, shown with a lock, and consumes the prekey', async () => {
    const before = await aliceDevices();
    consumedPrekeyDevices = before;
    const envelope = await encryptP2P({ aid: bob.aid, deviceId: 'bob-node', ik: p256(bob.privateKey) }, targetsFrom(before, aid), { type: 'text', text: 'secret reply' });
    await b.call('message.send', { to: aid, payload: envelope as never }, { sign: true });
    await page.waitForSelector('#messages li.inbound[data-encrypted="true"] .text');
    expect(await page.textContent('#messages li.inbound[data-encrypted="true"] .text')).toBe('secret reply');
    const after = await until('prekey rotation', async () => {
      const d = await aliceDevices();
      return d[0]!.spk_id !== before[0]!.spk_id ? d : undefined;
    });
    expect(after[0]!.spk_id).not.toBe(before[0]!.spk_id);
  });

  it('a message encrypted to the previous prekey still opens after the rotation', async () => {
    const devices = consumedPrekeyDevices;
    const envelope = await encryptP2P({ aid: bob.aid, deviceId: 'bob-node', ik: p256(bob.privateKey) }, targetsFrom(devices, aid), { type: 'text', text: 'late but fine' });
    await b.call('message.send', { to: aid, payload: envelope as never });
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === 'late but fine'));
  });

  it('a tampered envelope becomes an undecryptable event, and the next message still arrives', async () => {
    const devices = await aliceDevices();
    const sender = { aid: bob.aid, deviceId: 'bob-node', ik: p256(bob.privateKey) };
    const bad = await encryptP2P(sender, targetsFrom(devices, aid), { type: 'text', text: 'tampered' });
    const ct = fromBase64(bad.ciphertext);
    ct[0] = ct[0]! ^ 1;
    const tampered = { ...bad, ciphertext: Buffer.from(ct).toString('base64') };
    await b.call('message.send', { to: aid, payload: tampered as never });
    await page.waitForSelector('#messages li.undecryptable');
    expect(await page.textContent('#messages li.undecryptable')).toContain('sender_signature');
    const good = await encryptP2P(sender, targetsFrom(devices, aid), { type: 'text', text: 'after the bad one' });
    await b.call('message.send', { to: aid, payload: good as never });
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === 'after the bad one'));
    expect(await page.$$eval('#messages li.inbound .text', (els) => els.map((e) => e.textContent))).not.toContain('tampered');
  });

  it('two browser profiles talk E2EE through their own workers', async () => {
    const other = await stack.browser.newContext();
    const carol = `carol${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
    const carolTab = await openTab(other, stack, carol);
    await aun(carolTab).send(aid, { type: 'text', text: 'worker to worker' });
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li.inbound[data-encrypted="true"] .text')].some((e) => e.textContent === 'worker to worker'));
    await aun(page).send(carol, { type: 'text', text: 'and back' });
    await carolTab.waitForFunction(() => [...document.querySelectorAll('#messages li.inbound[data-encrypted="true"] .text')].some((e) => e.textContent === 'and back'));
    await other.close();
  });
});
