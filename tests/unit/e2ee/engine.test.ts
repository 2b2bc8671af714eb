// The worker's E2EE engine against a fake gateway and a real (fake-indexeddb) keystore.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import type { InboxRow, MethodName } from '../../../protocol/methods.ts';
import { E2eeEngine } from '../../../worker/e2ee/engine.ts';
import { encryptP2P, type Target } from '../../../worker/e2ee/envelope.ts';
import { E2eeError } from '../../../worker/e2ee/errors.ts';
import type { P256PrivateKey } from '../../../worker/e2ee/keys.ts';
import { generatePrivateKey } from '../../../worker/e2ee/noble.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';

const ME = 'alice.aun.local';
const PEER = 'bob.aun.local';
const OTHER = 'carol.aun.local';

async function setup() {
  const store: Store = await openStore({ name: `engine-${Math.random()}`, idbFactory: new IDBFactory() });
  const ik = await generatePrivateKey();
  const bobIk = await generatePrivateKey();
  const uploads: Record<string, unknown>[] = [];
  const engine = new E2eeEngine({
    aid: ME,
    deviceId: 'a1',
    ik,
    store,
    async rpc(method: MethodName, params: unknown) {
      if (method === 'message.v2.put_peer_pk') uploads.push(params as Record<string, unknown>);
      return { ok: true } as never;
    },
    peerIk: async (aid) => (aid === PEER ? bobIk.publicSpki : (await generatePrivateKey()).publicSpki),
  });
  /** Our device as a target, with the SPK the engine last uploaded. */
  const me = (): Target => {
    const last = uploads[uploads.length - 1]!;
    return { aid: ME, deviceId: 'a1', ikSpki: ik.publicSpki, keySource: 'peer_device_prekey', spkId: String(last.spk_id), spkSpki: Uint8Array.from(Buffer.from(String(last.spk_pk), 'base64')) };
  };
  const row = (envelope: unknown, seq: number, tServer = Date.now()): InboxRow => ({
    seq, version: 'v2', message_id: String((envelope as { aad: { message_id: string } }).aad.message_id), from_aid: PEER, to: ME,
    t_server: tServer, device_id: 'a1', slot_id: 'default', direction: 'inbound', envelope_json: JSON.stringify(envelope),
  });
  const fromBob = (targets: Target[], text: string, timestamp?: number) =>
    encryptP2P({ aid: PEER, deviceId: 'b1', ik: bobIk as P256PrivateKey }, targets, { type: 'text', text }, timestamp ? { timestamp } : {});
  return { store, engine, uploads, me, row, fromBob, ik };
}

describe('E2eeEngine', () => {
  it('publishes one signed prekey and does not publish it again', async () => {
    const t = await setup();
    await t.engine.ensurePrekey();
    await t.engine.ensurePrekey();
    expect(t.uploads).toHaveLength(1);
    expect(t.uploads[0]).toMatchObject({ peer_aid: ME, key_source: 'peer_device_prekey', spk_id: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) });
    expect(await t.store.keys.list(ME)).toEqual([`spk:${t.uploads[0]!.spk_id}`]);
  });

  it('opens a 3DH message, rotates the consumed prekey, and still opens messages to the old one', async () => {
    const t = await setup();
    await t.engine.ensurePrekey();
    const oldTarget = t.me();
    const first = await t.fromBob([oldTarget], 'one');
    expect((await t.engine.decrypt(t.row(first, 1))).payload).toEqual({ type: 'text', text: 'one' });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.uploads).toHaveLength(2);
    expect(t.uploads[1]!.spk_id).not.toBe(oldTarget.spkId);
    const late = await t.fromBob([oldTarget], 'late');
    expect((await t.engine.decrypt(t.row(late, 2))).payload).toEqual({ type: 'text', text: 'late' });
    expect(t.uploads).toHaveLength(2);
  });

  it('refuses a replay of the same message id', async () => {
    const t = await setup();
    await t.engine.ensurePrekey();
    const env = await t.fromBob([{ aid: ME, deviceId: 'a1', ikSpki: t.ik.publicSpki }], 'once');
    await t.engine.decrypt(t.row(env, 1));
    await expect(t.engine.decrypt(t.row(env, 2))).rejects.toMatchObject({ reason: 'duplicate' });
  });

  it('refuses an envelope whose timestamp is far from when the gateway took it in', async () => {
    const t = await setup();
    const threeDaysAgo = Date.now() - 3 * 86_400_000;
    const env = await t.fromBob([{ aid: ME, deviceId: 'a1', ikSpki: t.ik.publicSpki }], 'old', threeDaysAgo);
    const err = await t.engine.decrypt(t.row(env, 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(E2eeError);
    expect(err).toMatchObject({ reason: 'replay' });
  });

  it('refuses a message addressed to someone else even if it carries a row for us', async () => {
    const t = await setup();
    const env = await t.fromBob([
      { aid: OTHER, deviceId: 'c1', ikSpki: (await generatePrivateKey()).publicSpki },
      { aid: ME, deviceId: 'a1', ikSpki: t.ik.publicSpki },
    ], 'misrouted');
    expect((env.aad as { to: string }).to).toBe(OTHER);
    await expect(t.engine.decrypt(t.row(env, 1))).rejects.toMatchObject({ reason: 'aad_binding' });
  });

  it('reports a missing prekey as spk_missing, never falling back to 1DH', async () => {
    const t = await setup();
    const ghost = await generatePrivateKey();
    const env = await t.fromBob([{ aid: ME, deviceId: 'a1', ikSpki: t.ik.publicSpki, keySource: 'peer_device_prekey', spkId: 'sha256:0123456789abcdef', spkSpki: ghost.publicSpki }], 'x');
    await expect(t.engine.decrypt(t.row(env, 1))).rejects.toMatchObject({ reason: 'spk_missing' });
  });

  it('several messages that used the current prekey rotate it once', async () => {
    const t = await setup();
    await t.engine.ensurePrekey();
    const target = t.me();
    const envs = await Promise.all([1, 2, 3].map((i) => t.fromBob([target], `m${i}`)));
    await Promise.all(envs.map((e, i) => t.engine.decrypt(t.row(e, i + 1))));
    await new Promise((r) => setTimeout(r, 100));
    expect(t.uploads).toHaveLength(2);
  });
});
