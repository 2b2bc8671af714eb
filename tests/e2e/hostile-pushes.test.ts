// Issue 13, findings 4-6, through a real gateway and a real tab: forged and replayed pushes go in
// through the admin inject, and the tab must show only what the gateway stored, each once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../support/aun-client.ts';
import { countCalls, envelopeTo, peerDevices, pushFrame } from '../support/forge.ts';
import { adminPost, expectExactlyOnce, inboundTexts, longConnections, openSender, openTab, until, type Stack, startStack } from './support.ts';

const SENDER_DEVICE = 'node-sender';
let stack: Stack;
let sender: Session;
let senderAid: string;

beforeAll(async () => {
  stack = await startStack();
  senderAid = `hsender${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
  sender = await openSender(stack.gateway, senderAid);
});
afterAll(async () => {
  sender?.close();
  await stack?.close();
});

let n = 0;
const newAid = () => `hostile${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inject = (aid: string, frames: string[]) => adminPost(stack, 'inject', { aid, frames });

async function deviceOf(aid: string): Promise<string> {
  return (await until('the tab\'s long connection', async () => (await longConnections(stack, aid))[0]))!.device_id;
}

function plaintextPush(aid: string, device: string, seq: number, text: string) {
  return pushFrame('message.received', {
    message_id: `m-forged-${seq}-${n}`, from: senderAid, to: aid, seq, timestamp: Date.now(), payload: { type: 'text', text },
    delivery_mode: 'fanout', encrypted: false, device_id: device, slot_id: 'default', direction: 'inbound',
  });
}

describe('forged and replayed pushes (issue 13)', () => {
  it('finding 4: a forged plaintext push at the next seq is not shown; the message the gateway stores there is, once', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    const device = await deviceOf(aid);
    await inject(aid, [plaintextPush(aid, device, 1, 'forged at seq 1')]);
    await sleep(1000);
    expect(await inboundTexts(page)).toEqual([]);
    await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'real at seq 1' } });
    await expectExactlyOnce([page], ['real at seq 1']);
    const late = await openTab(ctx, stack, aid);
    await expectExactlyOnce([late], ['real at seq 1']);
    for (const p of [page, late]) expect(await inboundTexts(p)).toEqual(['real at seq 1']);
    await ctx.close();
  });

  it('finding 5: a push with a far-ahead seq costs one pull, not a loop, and later messages still arrive', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    const device = await deviceOf(aid);
    await sleep(500);
    const pulls = countCalls('message.v2.pull');
    try {
      await inject(aid, [
        plaintextPush(aid, device, 1e9, 'far ahead'),
        pushFrame('peer.v2.message_received', { seq: 1e9 + 7, message_id: 'm-far', from_aid: senderAid, device_id: device, envelope_json: '{}' }),
      ]);
      await sleep(2000);
      // One pull per push at most (the two may share one): a loop makes hundreds in two seconds.
      expect(pulls.count).toBeGreaterThanOrEqual(1);
      expect(pulls.count).toBeLessThanOrEqual(2);
      await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'after the far-ahead push' } });
      await expectExactlyOnce([page], ['after the far-ahead push']);
      const settled = pulls.count;
      await sleep(1000);
      expect(pulls.count).toBe(settled);
    } finally {
      pulls.stop();
    }
    expect(await inboundTexts(page)).toEqual(['after the far-ahead push']);
    await ctx.close();
  });

  it('finding 6: a real envelope replayed at fake seqs does not make the real copy vanish; each message shows once, in order', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    const device = await deviceOf(aid);
    const devices = await peerDevices(sender, aid);
    const messageId = `m-replayed-${Date.now()}`;
    const envelope = await envelopeTo(sender, SENDER_DEVICE, devices, aid, { type: 'text', text: 'second, replayed early' }, messageId);
    const replay = (seq: number) => pushFrame('peer.v2.message_received', {
      seq, message_id: messageId, from_aid: senderAid, device_id: device, envelope_json: JSON.stringify(envelope),
    });
    // Seq 1 is where the gateway will store another message; 40 is nowhere.
    await inject(aid, [replay(1), replay(40)]);
    await sleep(1000);
    expect(await inboundTexts(page)).toEqual([]);
    await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'first, plaintext' } });
    await sender.call('message.send', { to: aid, payload: envelope as unknown as Record<string, unknown> });
    await expectExactlyOnce([page], ['first, plaintext', 'second, replayed early']);
    expect(await inboundTexts(page)).toEqual(['first, plaintext', 'second, replayed early']);
    // The replay again, after the real copy: a duplicate, dropped quietly.
    await inject(aid, [replay(3)]);
    await sleep(1000);
    expect(await inboundTexts(page)).toEqual(['first, plaintext', 'second, replayed early']);
    expect(await page.$$eval('#messages li.undecryptable', (els) => els.length)).toBe(0);
    await ctx.close();
  });

  it('groups: a forged plaintext group message at the next seq is not shown; the stored one is, once', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    const { group } = await sender.call<{ group: { group_id: string } }>('group.create', { name: 'hostile' });
    const groupId = group.group_id;
    await sender.call('group.add_member', { group_id: groupId, group_aid: groupId, aid }, { sign: true });
    await sleep(1000);
    await inject(aid, [pushFrame('group.message_created', {
      module_id: 'group', group_id: groupId, seq: 1, message_id: 'gm-forged', sender_aid: senderAid, message_type: 'text',
      payload: { type: 'text', text: 'forged group message' }, created_at: Date.now(),
    })]);
    await sleep(1000);
    expect(await inboundTexts(page)).toEqual([]);
    await sender.call('group.send', { group_id: groupId, group_aid: groupId, payload: { type: 'text', text: 'real group message' } }, { sign: true });
    await expectExactlyOnce([page], ['real group message']);
    expect(await inboundTexts(page)).toEqual(['real group message']);
    await ctx.close();
  });
});
