// Regression tests for the gateway findings of audit round 2: a group.v2.send whose work grew with
// rows × devices, devices without bound per AID, a reader that stops reading, and forged recall
// tombstones.

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { ErrorCode } from '../../protocol/errors.ts';
import { recipientsDigest, type RecipientRow } from '../../protocol/recipients.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { MAX_DEVICES_PER_AID } from '../../gateway/services/envelope-check.ts';
import { MAX_PENDING_LOGINS } from '../../gateway/services/auth.ts';
import { Session, makeSpk, opaqueEnvelope, openSocket, type Identity } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

/** Registers a P2P prekey (and, with `groupId`, a group prekey) for `id` on device `deviceId`. */
async function putPrekeys(id: Identity, deviceId: string, groupId?: string): Promise<{ p2p: Obj; group?: Obj }> {
  const s = await Session.open(gw.url, id, { deviceId, kind: 'short' });
  try {
    const p2p = await s.request('message.v2.put_peer_pk', makeSpk(id).fields);
    const group = groupId ? await s.request('group.v2.put_group_pk', { group_id: groupId, ...makeSpk(id, 'group_device_prekey').fields }) : undefined;
    return { p2p, group };
  } finally {
    s.close();
  }
}

describe('audit D1: device fan-out of a group.v2.send', () => {
  it('reads a member\'s devices once per send, not once per recipient row', async () => {
    const mallory = await loggedIn(gw, 'mallory');
    for (const d of ['d0', 'd1', 'd2']) await putPrekeys(mallory, d);
    const m = await Session.open(gw.url, mallory, { deviceId: 'm-main' });
    const { group } = await m.call<{ group: { group_id: string; e2ee_epoch: number } }>('group.create', { name: 'amp' });
    const row: RecipientRow = [mallory.aid, 'd1', 'member', 'aid_master', '', '', 'AAAA', 'AAAA'];
    const rows = Array.from({ length: 1024 }, () => row);
    const env = opaqueEnvelope('e2ee.group_encrypted', { from: mallory.aid, from_device: 'm-main', group_id: group.group_id, message_id: `x-${randomBytes(4).toString('hex')}`, epoch: group.e2ee_epoch });
    Object.assign(env, { recipients: rows, recipients_digest: recipientsDigest(rows), epoch: group.e2ee_epoch, t_send: Date.now() });

    // Every SELECT of the gateway (in-process) goes through Statement.prototype.all/get.
    const probe = new Database(':memory:');
    const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { all: (...a: unknown[]) => unknown };
    const all = vi.spyOn(proto, 'all');
    try {
      const sent = await m.call<{ status: string }>('group.v2.send', { group_id: group.group_id, envelope: env });
      expect(sent.status).toBe('sent');
      // Per AID: the devices table, the P2P and the group prekeys; plus the member list.
      expect(all.mock.calls.length, 'list reads during one 1,024-row send').toBeLessThan(16);
    } finally {
      all.mockRestore();
      probe.close();
      m.close();
    }
  });

  it(`an AID holds prekeys for at most ${MAX_DEVICES_PER_AID} devices; a refused one gets a typed error`, async () => {
    const owner = await Session.open(gw.url, await loggedIn(gw, 'many'), { deviceId: 'd0' });
    const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'devices' });
    for (let i = 0; i < MAX_DEVICES_PER_AID; i += 16) {
      const batch = await Promise.all(Array.from({ length: 16 }, (_, j) => putPrekeys(owner.identity, `d${i + j}`, group.group_id)));
      for (const r of batch) {
        expect(r.p2p.error).toBeUndefined();
        expect(r.group!.error).toBeUndefined();
      }
    }
    const over = await putPrekeys(owner.identity, 'one-too-many', group.group_id);
    for (const answer of [over.p2p, over.group!]) {
      const error = answer.error as { code: number; message: string; data: Obj } | undefined;
      expect(error?.code).toBe(ErrorCode.PermissionDenied);
      expect(error?.message).toMatch(/device limit/);
      expect(error?.data).toMatchObject({ quota_kind: 'aid_devices', limit: MAX_DEVICES_PER_AID });
    }
    // A device that has one may still rotate it.
    const again = await putPrekeys(owner.identity, 'd7', group.group_id);
    expect(again.p2p.error).toBeUndefined();
    expect(again.group!.error).toBeUndefined();
    const boot = await owner.call<{ self_devices: unknown[] }>('message.v2.bootstrap', { peer_aid: owner.identity.aid });
    expect(boot.self_devices).toHaveLength(MAX_DEVICES_PER_AID - 1);
    owner.close();
  });
  it(`an AID connects (long) from at most ${MAX_DEVICES_PER_AID} device ids; a refused one gets a typed error`, async () => {
    const id = await loggedIn(gw, 'hydra');
    for (let i = 0; i < MAX_DEVICES_PER_AID; i += 16) {
      const batch = await Promise.all(Array.from({ length: 16 }, (_, j) => Session.open(gw.url, id, { deviceId: `h${i + j}` })));
      for (const s of batch) s.close();
    }
    const refused = await Session.open(gw.url, id, { deviceId: 'h-one-too-many' }).then(() => null, (e: { body?: { code: number; message: string; data: Obj } }) => e.body);
    expect(refused?.code).toBe(ErrorCode.PermissionDenied);
    expect(refused?.message).toMatch(/device limit/);
    expect(refused?.data).toMatchObject({ quota_kind: 'aid_devices', limit: MAX_DEVICES_PER_AID });
    // A known device still connects, and a short socket needs no new device row.
    const known = await Session.open(gw.url, id, { deviceId: 'h3' });
    const short = await Session.open(gw.url, id, { deviceId: 'h-short', kind: 'short' });
    expect(await known.call('meta.ping')).toMatchObject({ pong: true });
    expect(await short.call('meta.ping')).toMatchObject({ pong: true });
    for (const s of [known, short]) s.close();
  });
});

describe('audit E: a client that stops reading', () => {
  it('is terminated once its unread answers pass the limit; one larger answer still reaches a reader', async () => {
    const LIMIT = 1024 * 1024;
    const lines: string[] = [];
    const small = await startGateway({ dataDir: ':memory:', maxBufferedBytes: LIMIT, log: (l) => lines.push(l) });
    try {
      const id = await loggedIn(small, 'hog');
      const a = await Session.open(small.url, id, { deviceId: 'a1' });
      const { group } = await a.call<{ group: { group_id: string } }>('group.create', { name: 'hog' });
      const blob = randomBytes(450_000).toString('base64'); // 600 KB
      for (let i = 0; i < 4; i++) await a.call('group.send', { group_id: group.group_id, payload: { type: 'text', text: blob } });
      // A reader gets an answer of 2.4 MB (over the limit, but nothing else was queued), twice.
      for (let i = 0; i < 2; i++) {
        const page = await a.call<{ messages: unknown[] }>('group.v2.pull', { group_id: group.group_id, after_seq: 0, limit: 50 });
        expect(page.messages).toHaveLength(4);
      }

      const { ws, challenge } = await openSocket(small.url);
      await new Promise((resolve) => {
        ws.once('message', resolve);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'auth.connect', params: { nonce: (challenge.params as { nonce: string }).nonce, auth: { method: 'kite_token', token: id.accessToken }, device: { id: 'a2' } } }));
      });
      (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading
      const frame = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'group.v2.pull', params: { group_id: group.group_id, after_seq: 0, limit: 50 } });
      for (let i = 0; i < 40; i++) ws.send(frame); // 96 MB of answers
      const deadline = Date.now() + 5000;
      while (small.stats().connections.some((c) => c.device_id === 'a2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const overflow = lines.find((l) => l.startsWith('overflow ') && l.includes('device=a2'));
      expect(overflow, 'no overflow logged for the stalled reader').toBeDefined();
      expect(small.stats().connections.filter((c) => c.device_id === 'a2')).toEqual([]);
      // What was queued is bounded by the limit plus one answer.
      expect(Number(/buffered=(\d+)/.exec(overflow!)![1])).toBeLessThan(LIMIT + 3_000_000);
      ws.terminate();
      // The reader on the other device is untouched.
      expect((await a.call<{ messages: unknown[] }>('group.v2.pull', { group_id: group.group_id, after_seq: 0, limit: 1 })).messages).toHaveLength(1);
      a.close();
    } finally {
      await small.close();
    }
  });
});

describe('audit A: recall tombstones come only from the recall methods', () => {
  it('group.send refuses a group.message_recalled (or message.recalled) row, as type or payload.type', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const mallory = await Session.open(gw.url, await loggedIn(gw, 'mallory'), { deviceId: 'm1' });
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'forge' });
    const gid = group.group_id;
    for (const s of [bob, mallory]) await alice.call('group.add_member', { group_id: gid, aid: s.identity.aid });
    const sent = await alice.call<{ message: { seq: number } }>('group.send', { group_id: gid, payload: { type: 'text', text: 'important' }, message_id: 'a-important' });
    const notice = {
      type: 'group.message_recalled', message_ids: ['a-important'], target_message_seqs: [sent.message.seq],
      sender_aid: alice.identity.aid, recalled_by: alice.identity.aid, recalled_at: Date.now(), reason: '', tombstone_message_id: 'fake-notice',
    };
    const forgeries = [
      { type: 'group.message_recalled', payload: notice },
      { payload: notice },
      { type: 'group.message_recalled', payload: { type: 'text', text: 'x' } },
      { payload: { ...notice, type: 'message.recalled' } },
    ];
    for (const f of forgeries) {
      const answer = await mallory.request('group.send', { group_id: gid, ...f });
      expect((answer.error as { code?: number } | undefined)?.code, JSON.stringify(f).slice(0, 80)).toBe(ErrorCode.InvalidParams);
    }
    const rows = (await bob.call<{ messages: Obj[] }>('group.v2.pull', { group_id: gid, after_seq: 0 })).messages;
    expect(rows.filter((r) => r.from_aid === mallory.identity.aid || r.sender_aid === mallory.identity.aid)).toEqual([]);
    // The real recall still makes its tombstone and notice.
    const recalled = await alice.call<{ success?: boolean; errors?: unknown[] }>('group.recall', { group_id: gid, message_ids: ['a-important'] });
    expect(recalled.errors ?? []).toEqual([]);
    const after = (await bob.call<{ messages: Obj[] }>('group.v2.pull', { group_id: gid, after_seq: 0 })).messages;
    expect(after.some((r) => JSON.stringify(r).includes('group.message_recalled'))).toBe(true);
    for (const s of [alice, bob, mallory]) s.close();
  });

  it('message.send refuses a plaintext message.recalled (or group.message_recalled) payload', async () => {
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const mallory = await Session.open(gw.url, await loggedIn(gw, 'mallory'), { deviceId: 'm1' });
    await carol.call('message.send', { to: bob.identity.aid, payload: { type: 'text', text: 'from carol' }, message_id: 'c-1' });
    for (const type of ['message.recalled', 'group.message_recalled']) {
      const answer = await mallory.request('message.send', {
        to: bob.identity.aid,
        payload: { type, message_ids: ['c-1'], from: carol.identity.aid, to: bob.identity.aid, timestamp: Date.now(), tombstone_message_id: 'rc-fake' },
      });
      expect((answer.error as { code?: number } | undefined)?.code, type).toBe(ErrorCode.InvalidParams);
    }
    const rows = (await bob.call<{ messages: Obj[] }>('message.v2.pull', { after_seq: 0 })).messages;
    expect(rows.map((r) => r.from_aid)).toEqual([carol.identity.aid]);
    // Carol's own recall still works.
    const recalled = await carol.call<{ errors?: unknown[] }>('message.recall', { message_ids: ['c-1'] });
    expect(recalled.errors ?? []).toEqual([]);
    for (const s of [carol, bob, mallory]) s.close();
  });
});

describe('login nonces (audit H)', () => {
  it('at most MAX_PENDING_LOGINS are handed out at once; the next is refused until they expire', async () => {
    let clock = Date.now();
    const gw = await testGateway({ now: () => clock });
    try {
      const id = await loggedIn(gw, 'nonce');
      const { ws, frames } = await openSocket(gw.url);
      const login1 = (n: number) => JSON.stringify({ jsonrpc: '2.0', id: n, method: 'auth.aid_login1', params: { aid: id.aid, cert: id.cert, client_nonce: 'bm9uY2U=' } });
      const answered = (n: number) => vi.waitFor(() => {
        if (frames.length < n) throw new Error(`${frames.length}/${n} answers`);
      }, { timeout: 60_000, interval: 50 });
      // One was handed out by loggedIn() and used; these fill the table.
      for (let i = 1; i <= MAX_PENDING_LOGINS; i++) ws.send(login1(i));
      await answered(MAX_PENDING_LOGINS);
      expect(frames.filter((f) => f.error).length).toBe(0);
      ws.send(login1(MAX_PENDING_LOGINS + 1));
      await answered(MAX_PENDING_LOGINS + 1);
      expect(frames.at(-1)).toMatchObject({ id: MAX_PENDING_LOGINS + 1, error: { code: ErrorCode.RateLimited } });
      clock += 61_000; // every nonce expired
      ws.send(login1(MAX_PENDING_LOGINS + 2));
      await answered(MAX_PENDING_LOGINS + 2);
      expect(frames.at(-1)).toMatchObject({ id: MAX_PENDING_LOGINS + 2, result: { request_id: expect.any(String) } });
      ws.close();
    } finally {
      await gw.close();
    }
  }, 90_000);
});

describe('liveness: a peer gone without a FIN', () => {
  it('a socket that answers no ping and sends nothing is terminated; one that pongs stays', async () => {
    const g = await testGateway({ livenessMs: 250 });
    try {
      const alive = await Session.open(g.url, await loggedIn(g, 'alive'));
      // A peer that is gone: the socket is open but nothing answers (ws's autoPong off).
      const gone = new WebSocket(g.url, { autoPong: false });
      const goneClosed = new Promise<number>((resolve) => gone.once('close', resolve));
      await new Promise((resolve) => gone.once('open', resolve));
      expect(await goneClosed).toBe(1006);
      // Two rounds on, the client that answers pings by itself is still connected.
      await new Promise((r) => setTimeout(r, 600));
      expect(alive.closeCode).toBeNull();
      expect(await alive.call('meta.ping')).toMatchObject({ pong: true });
      alive.close();
    } finally {
      await g.close();
    }
  });
});
