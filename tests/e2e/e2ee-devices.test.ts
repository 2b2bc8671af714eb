// E2EE across devices: every browser profile is a device with its own worker and keystore.
// Alice and Bob each have two tabs on a first device and a second device; Carol joins for the
// group. Checks that every device decrypts, self-sync copies arrive, the gateway stores no
// plaintext, and a forged push is rejected without taking a real message's place.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { encryptP2P } from '../../worker/e2ee/envelope.ts';
import { Identity, Session } from '../support/aun-client.ts';
import { p256, targetsFrom } from '../support/e2ee-peer.ts';
import { adminPost, demoUrl, openTab, startStack, until, type Stack, aunCall } from './support.ts';

type Obj = Record<string, unknown>;
let stack: Stack;
const contexts: BrowserContext[] = [];
const ids: Record<string, Identity> = {};
/** Pages per device: alice1 (2 tabs), alice2, bob1 (2 tabs), bob2, carol1, carol2. */
const dev: Record<string, Page[]> = {};


/** A new device of `who`: a fresh profile that imports the identity's key, plus `tabs - 1` more tabs. */
async function device(who: string, tabs = 1): Promise<Page[]> {
  const ctx = await stack.browser.newContext();
  contexts.push(ctx);
  const first = await ctx.newPage();
  await first.goto(demoUrl(stack));
  await first.waitForSelector('body[data-ready="1"]');
  const id = ids[who]!;
  await aunCall(first, 'identities.import', id.aid, id.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  await first.evaluate(async (aid) => {
    const g = globalThis as unknown as { aun: { login(a: string, o: unknown): Promise<unknown> } };
    await g.aun.login(aid, { history: true });
  }, id.aid);
  // Only a device the gateway knows gets rows: wait until this one is connected.
  await first.waitForSelector('#state[data-state="ready"]', { timeout: 30_000 });
  const pages = [first];
  for (let i = 1; i < tabs; i++) pages.push(await openTab(ctx, stack, id.aid));
  return pages;
}

/** Texts shown in a page with the given direction classes. */
const shown = (page: Page, cls: string) => page.$$eval(`#messages li.${cls} .text`, (els) => els.map((e) => e.textContent ?? ''));

async function waitShown(page: Page, cls: string, text: string): Promise<void> {
  const dump = async () => console.error('page shows:', await page.$$eval('#messages li', (els) => els.map((e) => `${e.className}: ${e.textContent}`)));
  await page.waitForFunction(([c, t]) => [...document.querySelectorAll(`#messages li.${c} .text`)].some((e) => e.textContent === t), [cls, text] as const, { timeout: 20_000 }).catch(async (e: unknown) => {
    await dump();
    throw e;
  });
}

beforeAll(async () => {
  stack = await startStack();
  for (const who of ['alice', 'bob', 'carol']) {
    const id = new Identity(`${who}${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
    await id.register(stack.gateway.url);
    ids[who] = id;
  }
  dev.alice1 = await device('alice', 2);
  dev.alice2 = await device('alice');
  dev.bob1 = await device('bob', 2);
  dev.bob2 = await device('bob');
}, 120_000);
afterAll(async () => {
  for (const c of contexts) await c.close();
  await stack?.close();
});

describe('E2EE across devices', () => {
  it('alice and bob exchange messages both ways; every device decrypts; self-sync copies arrive', async () => {
    await aunCall(dev.alice1![0]!, 'send', ids.bob!.aid, { type: 'text', text: 'alice to bob, sealed' });
    for (const p of [...dev.bob1!, ...dev.bob2!]) await waitShown(p, 'inbound[data-encrypted="true"]', 'alice to bob, sealed');
    await waitShown(dev.alice1![1]!, 'outbound', 'alice to bob, sealed');
    await waitShown(dev.alice2![0]!, 'outbound_sync[data-encrypted="true"]', 'alice to bob, sealed');

    await aunCall(dev.bob1![1]!, 'send', ids.alice!.aid, { type: 'text', text: 'bob to alice, sealed' });
    for (const p of [...dev.alice1!, ...dev.alice2!]) await waitShown(p, 'inbound[data-encrypted="true"]', 'bob to alice, sealed');
    await waitShown(dev.bob2![0]!, 'outbound_sync', 'bob to alice, sealed');
    for (const p of [...dev.bob1!, ...dev.bob2!]) expect((await shown(p, 'inbound')).filter((t) => t === 'alice to bob, sealed')).toHaveLength(1);
  });

  it('the gateway\'s SQLite files hold no plaintext of those messages', async () => {
    const dir = stack.dataDir;
    const bytes = Buffer.concat(readdirSync(dir).filter((f) => f.startsWith('gateway.sqlite')).map((f) => readFileSync(join(dir, f))));
    expect(bytes.length).toBeGreaterThan(0);
    for (const secret of ['alice to bob, sealed', 'bob to alice, sealed']) {
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    expect(bytes.includes(Buffer.from('e2ee.p2p_encrypted'))).toBe(true);
  });

  it('a forged push injected through the gateway is never opened or shown and does not move the cursor; the next real message still arrives', async () => {
    const target = dev.alice1![0]!;
    const inspect = await aunCall<{ sessions: { cursors: Record<string, number>; detail: Obj }[] }>(target, 'inspect');
    const session = inspect.sessions[0]!;
    const nextSeq = (session.cursors.p2p ?? 0) + 1;
    const deviceId = String(session.detail.deviceId);
    const bobSession = await (async () => {
      await ids.bob!.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
      return Session.open(stack.gateway.url, ids.bob!, { deviceId: 'bob-node' });
    })();
    const boot = await bobSession.call<{ peer_devices: Obj[] }>('message.v2.bootstrap', { peer_aid: ids.alice!.aid });
    const forged = await encryptP2P({ aid: ids.bob!.aid, deviceId: 'bob-node', ik: p256(ids.bob!.privateKey) },
      targetsFrom(boot.peer_devices, ids.alice!.aid), { type: 'text', text: 'forged' });
    const ct = Buffer.from(forged.ciphertext, 'base64');
    ct[0] = ct[0]! ^ 1;
    const frame = JSON.stringify({
      jsonrpc: '2.0', method: 'event/peer.v2.message_received',
      params: { seq: nextSeq, message_id: forged.aad.message_id, from_aid: ids.bob!.aid, device_id: deviceId, envelope_json: JSON.stringify({ ...forged, ciphertext: ct.toString('base64') }) },
    });
    await adminPost(stack, 'inject', { aid: ids.alice!.aid, frame });
    // A push is a hint (issue 13): it costs a pull, and the pull finds nothing at that seq.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await aunCall<{ sessions: { cursors: Record<string, number> }[] }>(target, 'inspect');
    expect(after.sessions[0]!.cursors.p2p ?? 0).toBe(nextSeq - 1);
    expect(await target.$$eval('#messages li.undecryptable', (els) => els.length)).toBe(0);
    await aunCall(dev.bob1![0]!, 'send', ids.alice!.aid, { type: 'text', text: 'real one after the forgery' });
    for (const p of dev.alice1!) await waitShown(p, 'inbound[data-encrypted="true"]', 'real one after the forgery');
    expect(await shown(target, 'inbound')).not.toContain('forged');
    bobSession.close();
  });

  it('a group of 3 members with 2 devices each: every device of every member decrypts every message', async () => {
    dev.carol1 = await device('carol');
    dev.carol2 = await device('carol');
    const group = await aunCall<Obj>(dev.alice1![0]!, 'groups.create', 'six devices');
    const gid = String(group.group_id);
    await aunCall(dev.alice1![0]!, 'groups.add', gid, ids.bob!.aid);
    await aunCall(dev.alice1![0]!, 'groups.add', gid, ids.carol!.aid);
    const devices = ['alice1', 'alice2', 'bob1', 'bob2', 'carol1', 'carol2'].map((d) => dev[d]![0]!);
    await until('every device sees the group', async () => {
      for (const p of devices) {
        const mine = await aunCall<Obj[]>(p, 'groups.list');
        if (!mine.some((g) => g.group_id === gid)) return false;
      }
      return true;
    });
    const undecryptable = (p: Page) => p.$$eval('#messages li.undecryptable', (els) => els.length);
    const before = await Promise.all(devices.map(undecryptable));
    const senders: [string, string][] = [['alice1', 'group hello from alice'], ['bob2', 'group hello from bob'], ['carol1', 'group hello from carol']];
    for (const [d, text] of senders) {
      const r = await aunCall<Obj>(dev[d]![0]!, 'groups.send', gid, { type: 'text', text });
      expect(r).toMatchObject({ groupId: gid, status: 'sent' });
    }
    for (const [i, p] of devices.entries()) {
      for (const [, text] of senders) {
        await p.waitForFunction((t) => [...document.querySelectorAll('#messages li[data-encrypted="true"] .text')].some((e) => e.textContent === t), text, { timeout: 20_000 });
      }
      expect(await undecryptable(p)).toBe(before[i]);
    }
  }, 120_000);
});
