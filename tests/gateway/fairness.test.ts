// Turns between sockets: a client that writes a thousand frames at once does not hold the
// single-threaded gateway while another socket's request waits (gateway/connection.ts,
// TURN_MS), and within one socket nothing changes: every frame is answered, in order, and
// what arrived before a close is still handled. The answers of a turn leave in one write.

import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import type { Session } from '../support/aun-client.ts';
import { online, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

const FLOOD = 1000;
const ONE_SOCKET = 503;

/** Writes `n` message.send frames to `to` on the sender's socket in one go (one TCP write). */
function flood(sender: Session, to: string, n: number, tag: string): void {
  const frames = Array.from({ length: n }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: `${tag}-${i}`, method: 'message.send', params: { to, payload: { type: 'text', text: `${tag} ${i}` } } }));
  for (const f of frames) sender.ws.send(f);
}

describe('turns between sockets', () => {
  it('a pull on another socket is answered while a 1,000-frame flood to it is still being handled', async () => {
    const [sender, receiver] = await Promise.all([online(gw, 'flooder'), online(gw, 'reader')]);
    flood(sender, receiver.identity.aid, FLOOD, 'f');
    // The first push to arrive: the gateway has stored at least one of the flood.
    await receiver.waitEvent('message.received', () => true, 10_000);
    const page = await receiver.call<{ latest_seq: number; messages: unknown[] }>('message.pull', { after_seq: 0, limit: 50 });
    // Without turns the whole flood (one TCP read) is handled before the pull is even read.
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.latest_seq).toBeLessThan(FLOOD);
    await receiver.until(() => receiver.eventsNamed('message.received').length === FLOOD || undefined, 20_000, 'the whole flood');
    // In order, each once.
    const texts = receiver.eventsNamed('message.received').map((p) => (p.payload as { text: string }).text);
    expect(texts).toEqual(Array.from({ length: FLOOD }, (_, i) => `f ${i}`));
    sender.ws.close();
    receiver.ws.close();
  });

  it('one socket: every frame of a flood is answered, in order of arrival', async () => {
    const [sender, receiver] = await Promise.all([online(gw, 'orderly'), online(gw, 'sink')]);
    const ids: string[] = [];
    sender.ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as { id?: string; result?: unknown };
      if (typeof f.id === 'string' && f.id.startsWith('o-') && f.result) ids.push(f.id);
    });
    flood(sender, receiver.identity.aid, ONE_SOCKET, 'o');
    await sender.until(() => ids.length === ONE_SOCKET || undefined, 10_000, 'all answers');
    expect(ids).toEqual(Array.from({ length: ONE_SOCKET }, (_, i) => `o-${i}`));
    sender.ws.close();
    receiver.ws.close();
  });

  it('frames that arrived before the close are handled, not dropped with the socket', async () => {
    const [sender, receiver] = await Promise.all([online(gw, 'leaver'), online(gw, 'keeper')]);
    const n = 300;
    flood(sender, receiver.identity.aid, n, 'c');
    sender.ws.close();
    const page = async (after: number) => receiver.call<{ messages: { seq: number }[] }>('message.pull', { after_seq: after, limit: 50 });
    let stored = 0;
    await receiver.until(() => receiver.eventsNamed('message.received').length > 0 || undefined, 10_000, 'a push');
    for (let i = 0; i < 50; i++) {
      let after = 0;
      stored = 0;
      for (let p = await page(after); p.messages.length > 0; p = await page(after)) {
        stored += p.messages.length;
        after = p.messages.at(-1)!.seq;
      }
      if (stored === n) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stored).toBe(n);
    receiver.ws.close();
  });

  it('the answers to a flood leave the gateway in a few writes to the socket, not one per frame, in order', async () => {
    const client = await online(gw, 'batched');
    const port = Number(new URL(gw.url).port);
    // Writes by the gateway's end of a socket (both write paths of a net.Socket).
    let writes = 0;
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
    const originals = { _write: proto._write, _writev: proto._writev };
    for (const name of ['_write', '_writev'] as const) {
      proto[name] = function (this: Socket, ...args: unknown[]) {
        if (this.localPort === port) writes++;
        return originals[name].apply(this, args);
      };
    }
    const n = 300;
    const ids: string[] = [];
    client.ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as { id?: string; result?: unknown };
      if (typeof f.id === 'string' && f.id.startsWith('w-') && f.result) ids.push(f.id);
    });
    try {
      for (let i = 0; i < n; i++) client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: `w-${i}`, method: 'meta.ping', params: {} }));
      await client.until(() => ids.length === n || undefined, 10_000, 'all answers');
    } finally {
      Object.assign(proto, originals);
      client.ws.close();
    }
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => `w-${i}`));
    // Without the batching, ws writes each frame on its own: at least one write per answer.
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(n / 10);
  });
});
