// Groups through the worker: create, add and remove members, E2EE group messages (group prekeys,
// 3DH/1DH wraps) between tabs of two profiles and an independent Node AUN client, membership
// events as typed events.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { X509Certificate } from 'node:crypto';
import { decryptEnvelope, encryptGroup } from '../../worker/e2ee/envelope.ts';
import { Identity, makeSpk, Session } from '../support/aun-client.ts';
import { p256, targetsFrom } from '../support/e2ee-peer.ts';
import { openTab, startStack, until, type Stack, aunCall } from './support.ts';

type Obj = Record<string, unknown>;
let stack: Stack;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let alice1: Page;
let alice2: Page;
let bob: Page;
let alice: string;
let bobAid: string;
let carol: Identity;
let c: Session;
let carolSpk: ReturnType<typeof makeSpk>;
let groupId: string;


/** Starts collecting `group.changed` events in the page under `window.changes`. */
async function collectChanges(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as { aun: { on(e: string, h: (d: unknown) => void): void }; changes: unknown[] };
    g.changes = [];
    g.aun.on('group.changed', (d) => g.changes.push(d));
  });
}
const changes = (page: Page) => page.evaluate(() => (globalThis as unknown as { changes: Obj[] }).changes);
const groupTexts = (page: Page, cls = 'inbound') => page.$$eval(`#messages li.${cls} .text`, (els) => els.map((e) => e.textContent));

async function pemOf(aid: string): Promise<Uint8Array> {
  const pem = await (await fetch(`${stack.gateway.httpUrl}/pki/cert/${aid}`)).text();
  return new Uint8Array(new X509Certificate(pem).publicKey.export({ format: 'der', type: 'spki' }));
}

beforeAll(async () => {
  stack = await startStack();
  const issuer = stack.gateway.config.issuer;
  alice = `galice${Date.now() % 1e8}.${issuer}`;
  bobAid = `gbob${Date.now() % 1e8}.${issuer}`;
  ctxA = await stack.browser.newContext();
  ctxB = await stack.browser.newContext();
  // All at once, as a browser restoring a session opens them (two tabs of one new identity).
  [alice1, alice2, bob] = await Promise.all([openTab(ctxA, stack, alice), openTab(ctxA, stack, alice), openTab(ctxB, stack, bobAid)]);
  for (const p of [alice1, alice2, bob]) await collectChanges(p);
  carol = new Identity(`gcarol${Date.now() % 1e8}.${issuer}`);
  await carol.register(stack.gateway.url);
  await carol.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
  c = await Session.open(stack.gateway.url, carol, { deviceId: 'carol-node' });
  carolSpk = makeSpk(carol);
  await c.call('message.v2.put_peer_pk', carolSpk.fields, { sign: true });
});
afterAll(async () => {
  c?.close();
  await ctxA?.close();
  await ctxB?.close();
  await stack?.close();
});

describe('groups through the worker', () => {
  it('a tab creates a group and adds members; everyone gets typed membership events', async () => {
    const group = await aunCall<Obj>(alice1, 'groups.create', 'team');
    groupId = String(group.group_id);
    expect(group).toMatchObject({ owner_aid: alice, member_count: 1 });
    await aunCall(alice1, 'groups.add', groupId, bobAid);
    await aunCall(alice1, 'groups.add', groupId, carol.aid);
    const bobSaw = await until('bob sees member_added', async () => (await changes(bob)).find((e) => e.member === bobAid && e.action === 'member_added'));
    expect(bobSaw).toMatchObject({ groupId, actor: alice, eventSeq: 1 });
    await until('alice tab 2 sees both joins', async () => (await changes(alice2)).length >= 2);
    const members = await aunCall<Obj[]>(bob, 'groups.members', groupId);
    expect(members.map((m) => m.aid).sort()).toEqual([alice, bobAid, carol.aid].sort());
    expect((await aunCall<Obj[]>(bob, 'groups.list')).map((g) => g.group_id)).toContain(groupId);
  });

  it('an encrypted group message reaches the other tabs, the other profile and a Node member', async () => {
    const sent = await aunCall<Obj>(alice1, 'groups.send', groupId, { type: 'text', text: 'hello team' });
    expect(sent).toMatchObject({ groupId, seq: expect.any(Number) });
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages li.inbound[data-encrypted="true"] .text')].some((e) => e.textContent === 'hello team'));
    await alice2.waitForFunction(() => [...document.querySelectorAll('#messages li.outbound .text')].some((e) => e.textContent === 'hello team'));
    await c.waitEvent('group.v2.message_created', (e) => e.group_id === groupId);
    const rows = await c.call<{ messages: Obj[] }>('group.v2.pull', { group_id: groupId, after_seq: 0 });
    const row = rows.messages.find((m) => m.seq === sent.seq)!;
    const envelope = JSON.parse(String(row.envelope_json)) as Obj;
    expect(envelope).toMatchObject({ type: 'e2ee.group_encrypted', group_id: groupId });
    expect(String(row.envelope_json)).not.toContain('hello team');
    const opened = await decryptEnvelope(envelope, {
      selfAid: carol.aid, selfDeviceId: 'carol-node', ik: p256(carol.privateKey), spk: p256(carolSpk.privateKey), senderIkSpki: await pemOf(alice),
    });
    expect(opened.payload).toEqual({ type: 'text', text: 'hello team' });
  });

  it('the worker publishes a group prekey, and a Node member\'s 3DH group message opens in every tab', async () => {
    const boot = await c.call<{ devices: Obj[]; epoch: number }>('group.v2.bootstrap', { group_id: groupId }, { sign: true });
    const aliceDevice = boot.devices.find((d) => d.aid === alice)!;
    expect(aliceDevice).toMatchObject({ key_source: 'group_device_prekey', spk_id: expect.any(String) });
    const envelope = await encryptGroup({ aid: carol.aid, deviceId: 'carol-node', ik: p256(carol.privateKey) }, targetsFrom(boot.devices),
      { type: 'text', text: 'from node' }, { groupId, epoch: boot.epoch });
    expect(envelope.aad.wrap_protocol).toBe('3DH');
    await c.call('group.v2.send', { group_id: groupId, envelope: envelope as never }, { sign: true });
    for (const p of [alice1, alice2, bob]) {
      await p.waitForFunction(() => [...document.querySelectorAll('#messages li.inbound[data-encrypted="true"] .text')].some((e) => e.textContent === 'from node'));
    }
  });

  it('plaintext group messages go out only when asked', async () => {
    await aunCall(bob, 'groups.send', groupId, { type: 'text', text: 'open letter' }, { encrypt: false });
    await alice1.waitForFunction(() => [...document.querySelectorAll('#messages li.inbound[data-encrypted="false"] .text')].some((e) => e.textContent === 'open letter'));
    const push = await c.waitEvent('group.message_created', (e) => e.group_id === groupId);
    expect(push.payload).toEqual({ type: 'text', text: 'open letter' });
  });

  it('a removed member is told, and later messages no longer reach it', async () => {
    await aunCall(alice1, 'groups.remove', groupId, bobAid);
    await until('bob sees his removal', async () => (await changes(bob)).find((e) => e.member === bobAid && e.action === 'member_removed'));
    await aunCall(alice1, 'groups.send', groupId, { type: 'text', text: 'after bob left' });
    await c.waitEvent('group.v2.message_created', (e) => e.group_id === groupId && (e.member_aids as string[]).length === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await groupTexts(bob)).not.toContain('after bob left');
  });
});
