// The decrypt path's speed-ups keep its contract: peer keys are imported once and reused, a bad
// SPKI is never cached, and work started ahead of the signature check never changes which error wins.

import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decryptEnvelope,
  ecdh,
  encryptP2P,
  importPrivateKey,
  spkIdOf,
  type DecryptKeys,
  type Target,
} from '../../../worker/e2ee/index.ts';
import { ALICE_PRIV, alice, bob, bobSpk, carol, expectE2eeError, testKey } from './fixtures.ts';

afterEach(() => vi.restoreAllMocks());

function importsDuring(): { count: () => number } {
  const spy = vi.spyOn(crypto.subtle, 'importKey');
  return { count: () => spy.mock.calls.filter((c) => c[0] === 'spki').length };
}

describe('imported peer keys', () => {
  it('are imported once per SPKI and use, and give the same shared secret', async () => {
    const mine = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const peer = testKey('cache-peer');
    const imports = importsDuring();
    const first = await ecdh(mine, peer.publicSpki);
    const again = await ecdh(mine, peer.publicSpki);
    expect(again).toEqual(first);
    expect(imports.count()).toBe(1);
    // The pure-JS path agrees with the cached WebCrypto one.
    expect(await ecdh(peer, alice.publicSpki)).toEqual(first);
  });

  it('never caches an SPKI that is not a valid P-256 point', async () => {
    const mine = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const bad = bob.publicSpki.slice();
    bad[bad.length - 1]! ^= 0x01;
    const imports = importsDuring();
    await expect(ecdh(mine, bad)).rejects.toThrow();
    await expect(ecdh(mine, bad)).rejects.toThrow();
    expect(imports.count()).toBe(0);
  });
});

describe('decrypt work started before the signature check', () => {
  const target: Target = { aid: 'bob.aid.com', deviceId: 'dev-b1', role: 'peer', ikSpki: bob.publicSpki, keySource: 'peer_device_prekey', spkId: spkIdOf(bobSpk.publicSpki), spkSpki: bobSpk.publicSpki };
  const keys = (extra: Partial<DecryptKeys> = {}): DecryptKeys => ({ selfAid: 'bob.aid.com', selfDeviceId: 'dev-b1', ik: bob, spk: bobSpk, senderIkSpki: alice.publicSpki, ...extra });
  const env = () => encryptP2P({ aid: 'alice.aid.com', deviceId: 'dev-a1', ik: alice }, [target], { type: 'text', text: 'x' });

  it('a [GAP] check failure wins over a missing prekey', async () => {
    await expectE2eeError(decryptEnvelope(await env(), keys({ spk: undefined }), { isSeen: () => true }), 'duplicate');
    await expectE2eeError(decryptEnvelope(await env(), keys({ spk: undefined }), { expectedFrom: 'mallory.aid.com' }), 'aad_binding');
  });

  it('a forged signature wins over a row that is not ours, and the prekey lookup never rejects unhandled', async () => {
    const lookup = vi.fn(async () => {
      throw new Error('store is closed');
    });
    await expectE2eeError(decryptEnvelope(await env(), keys({ senderIkSpki: carol.publicSpki, selfDeviceId: 'dev-x' })), 'sender_signature');
    await expectE2eeError(decryptEnvelope(await env(), keys({ senderIkSpki: carol.publicSpki, spk: lookup })), 'sender_signature');
    expect(lookup).toHaveBeenCalled();
  });
});
