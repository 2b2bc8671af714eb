import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/server.ts';
import WebSocket from 'ws';
import { makeSpk, Session, shortRpc } from '../support/aun-client.ts';
import { loggedIn } from '../support/gateway.ts';

const dirs: string[] = [];
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aun-gw-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Obj = Record<string, unknown>;

describe('restart on the same data dir', () => {
  it('keeps the CA, identities, tokens, device keys, inboxes, cursors and groups', async () => {
    const dir = dataDir();
    let gw = await startGateway({ dataDir: dir });
    const rootPem = gw.rootPem;
    const alice = await loggedIn(gw, 'alice');
    const bob = await loggedIn(gw, 'bob');
    const a = await Session.open(gw.url, alice, { deviceId: 'a1' });
    const b = await Session.open(gw.url, bob, { deviceId: 'b1' });
    const spk = makeSpk(bob);
    await b.call('message.v2.put_peer_pk', spk.fields);
    const { group } = await a.call<{ group: { group_id: string } }>('group.create', { name: 'kept' });
    await a.call('group.add_member', { group_id: group.group_id, aid: bob.aid });
    await a.call('group.send', { group_id: group.group_id, payload: { type: 'text', text: 'g1' } });
    await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'first' } });
    await b.waitEvent('message.received');
    await b.call('message.v2.ack', { up_to_seq: 1 });
    b.close();
    await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'offline' }, message_id: 'keep-1' });
    await gw.close();

    gw = await startGateway({ dataDir: dir });
    try {
      expect(gw.rootPem).toBe(rootPem);
      expect((await fetch(`${gw.httpUrl}/pki/cert/${alice.aid}`)).status).toBe(200);
      // The access token from before the restart still opens a session: no new login needed.
      const b2 = await Session.open(gw.url, bob, { deviceId: 'b1' });
      const pulled = await b2.call<{ messages: Obj[]; server_ack_seq: number }>('message.v2.pull', { after_seq: 1 });
      expect(pulled.server_ack_seq).toBe(1);
      expect(pulled.messages.map((m) => (m.legacy_v1 as { payload: Obj }).payload.text)).toEqual(['offline']);
      const a2 = await Session.open(gw.url, alice, { deviceId: 'a1' });
      const dup = await a2.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'offline' }, message_id: 'keep-1' });
      expect(dup.status).toBe('duplicate');
      const boot = await a2.call<{ peer_devices: Obj[] }>('message.v2.bootstrap', { peer_aid: bob.aid });
      expect(boot.peer_devices[0]).toMatchObject({ device_id: 'b1', spk_id: spk.fields.spk_id });
      const members = await b2.call<{ members: Obj[] }>('group.get_members', { group_id: group.group_id });
      expect(members.members).toHaveLength(2);
      const grows = await b2.call<{ messages: Obj[] }>('group.v2.pull', { group_id: group.group_id, after_seq: 0 });
      expect(grows.messages.map((m) => (m.payload as Obj).text)).toEqual(['g1']);
      const sent = await a2.call<{ message: { seq: number } }>('group.send', { group_id: group.group_id, payload: { type: 'text', text: 'g2' } });
      expect(sent.message.seq).toBe(2);
      const refreshed = await shortRpc(gw.url, 'auth.refresh_token', { refresh_token: bob.refreshToken });
      expect(refreshed).toMatchObject({ success: true, aid: bob.aid });
      for (const s of [a2, b2]) s.close();
    } finally {
      await gw.close();
    }
  });
});

describe('npm run gateway', () => {
  it('starts, logs connection events, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', '--port', '0', '--data', ':memory:'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 15_000);
      child.stdout.on('data', () => {
        const m = /on (ws:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    const http = url.replace(/^ws/, 'http').replace(/\/ws$/, '');
    expect((await fetch(`${http}/health`)).status).toBe(200);
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once('message', r));
    ws.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(out).toMatch(/open conn_\w+ pending/);
    expect(out).toMatch(/close conn_\w+/);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
