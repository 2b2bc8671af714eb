import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Gateway } from '../../gateway/server.ts';
import { openSocket, Session } from '../support/aun-client.ts';
import { adminPost, online, stats, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

/** Sends raw data on a fresh pre-auth socket and returns the next frame. */
async function rawReply(data: string | Buffer, binary = false): Promise<Record<string, unknown>> {
  const { ws, frames } = await openSocket(gw.url);
  try {
    return await new Promise((resolve, reject) => {
      ws.on('message', () => resolve(frames.shift()!));
      ws.once('close', (code) => reject(new Error(`closed ${code}`)));
      ws.send(data, { binary });
    });
  } finally {
    ws.close();
  }
}

describe('malformed frames', () => {
  it('answers each kind of bad frame with its JSON-RPC error', async () => {
    expect(await rawReply('{not json')).toMatchObject({ id: null, error: { code: -32700 } });
    expect(await rawReply('[1,2]')).toMatchObject({ id: null, error: { code: -32600 } });
    expect(await rawReply('"hello"')).toMatchObject({ error: { code: -32600 } });
    expect(await rawReply(JSON.stringify({ id: 3, method: 'meta.ping' }))).toMatchObject({ id: 3, error: { code: -32600 } });
    expect(await rawReply(JSON.stringify({ jsonrpc: '2.0', id: 4 }))).toMatchObject({ id: 4, error: { code: -32600 } });
    expect(await rawReply(JSON.stringify({ jsonrpc: '2.0', id: {}, method: 'meta.ping' }))).toMatchObject({ id: null, error: { code: -32600 } });
    expect(await rawReply(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'meta.ping', params: [1] }))).toMatchObject({ id: 5, error: { code: -32602 } });
    expect(await rawReply(Buffer.from([1, 2, 3]), true)).toMatchObject({ error: { code: -32600 } });
  });

  it('never takes down other connections', async () => {
    const bystander = await online(gw);
    for (const bad of ['{', '\u0000', 'null', '{"jsonrpc":"2.0","id":1,"method":"auth.connect","params":{"nonce":5}}']) {
      await rawReply(bad);
    }
    expect(await bystander.call('meta.ping')).toMatchObject({ pong: true });
    bystander.close();
  });

  it('refuses an oversized frame with a clear error and keeps the socket', async () => {
    const s = await online(gw);
    const big = { text: 'x'.repeat(1_100_000) };
    const reply = await s.request('meta.ping', big, 'big-1');
    expect(reply).toMatchObject({ id: 'big-1', error: { code: -32600, data: { limit: 1_000_000 } } });
    expect(String((reply.error as { message: string }).message)).toMatch(/frame too large/);
    expect(await s.call('meta.ping')).toMatchObject({ pong: true });
    s.close();
  });

  it('cuts off a frame beyond the hard limit without hurting other sockets', async () => {
    const bystander = await online(gw);
    const { ws } = await openSocket(gw.url);
    const code = await new Promise<number>((resolve) => {
      ws.once('close', resolve);
      ws.send('x'.repeat(9 * 1024 * 1024));
    });
    expect(code).toBe(1009);
    expect(await bystander.call('meta.ping')).toMatchObject({ pong: true });
    bystander.close();
  });
});

describe('admin and fault injection', () => {
  it('reports long and short connections with their identity', async () => {
    const s = await online(gw, 'stats', { deviceId: 'dev-s', slotId: 'main' });
    const st = await stats(gw);
    for (const key of ['long_connections', 'short_connections', 'logins', 'connects', 'refreshes', 'messages_stored']) {
      expect(typeof st[key]).toBe('number');
    }
    expect(st.connections).toContainEqual(expect.objectContaining({ aid: s.identity.aid, device_id: 'dev-s', slot_id: 'main', kind: 'long' }));
    s.close();
  });

  it('injects raw frames, valid or not, to the sockets of an AID', async () => {
    const s = await online(gw);
    const res = await (await adminPost(gw, 'inject', { aid: s.identity.aid, frame: '{"broken"' })).json();
    expect(res).toMatchObject({ ok: true, sockets: 1 });
    await s.until(() => s.unparsed.includes('{"broken"'), 2000, 'raw frame');
    await adminPost(gw, 'inject', { aid: s.identity.aid, frame: '{"jsonrpc":"2.0","method":"event/app.note","params":{"n":1}}' });
    expect((await s.waitEvent('app.note')).n).toBe(1);
    const many = Array.from({ length: 3 }, (_, i) => JSON.stringify({ jsonrpc: '2.0', method: 'event/app.burst', params: { i } }));
    expect(await (await adminPost(gw, 'inject', { aid: s.identity.aid, frames: many })).json()).toMatchObject({ ok: true, frames: 3 });
    await s.until(() => s.eventsNamed('app.burst').length === 3, 2000, 'burst');
    expect(s.eventsNamed('app.burst').map((p) => p.i)).toEqual([0, 1, 2]);
    s.close();
  });

  it('drop closes every socket without a close frame; close sends the given code', async () => {
    const a = await online(gw);
    await adminPost(gw, 'drop');
    expect(await a.closed).toBe(1006);
    const b = await online(gw);
    await adminPost(gw, 'close', { code: 1011 });
    expect(await b.closed).toBe(1011);
    expect((await adminPost(gw, 'close', { code: 1006 })).status).toBe(400);
  });

  it('pause holds every answer until resume; delay postpones answers', async () => {
    const s = await online(gw);
    await adminPost(gw, 'pause');
    expect((await fetch(`${gw.httpUrl}/health`)).status).toBe(503);
    let answered = false;
    const ping = s.call('meta.ping').then((r) => { answered = true; return r; });
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    await adminPost(gw, 'resume');
    expect(await ping).toMatchObject({ pong: true });
    await adminPost(gw, 'delay', { ms: 250 });
    const t0 = Date.now();
    await s.call('meta.ping');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    await adminPost(gw, 'delay', { ms: 0 });
    s.close();
  });

  it('rejects malformed admin bodies with 400 and unknown actions with 404', async () => {
    expect((await adminPost(gw, 'delay', { ms: 'soon' })).status).toBe(400);
    const headers = { Authorization: `Bearer ${gw.adminToken}`, 'Content-Type': 'application/json' };
    expect((await fetch(`${gw.httpUrl}/admin/inject`, { method: 'POST', headers, body: '{oops' })).status).toBe(400);
    expect((await adminPost(gw, 'nope')).status).toBe(404);
  });

  it('accepts WebSocket upgrades on /ws and / only', async () => {
    const code = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/elsewhere`);
      ws.once('error', (e) => resolve(String(e.message)));
      ws.once('open', () => resolve('open'));
    });
    expect(String(code)).toMatch(/404/);
    const s = await Session.open(`ws://127.0.0.1:${gw.port}/`, (await online(gw)).identity);
    expect(s.hello.status).toBe('ok');
    s.close();
  });
});
