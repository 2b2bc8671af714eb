// The decrypt path's speed-ups keep its contract: peer keys are imported once and reused, a bad
// SPKI is never cached, and work started ahead of the signature check never changes which error wins.

import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decryptEnvelope,
  ecdh,
  encryptP2P,
  fromBase64,
  importPrivateKey,
  spkIdOf,
  toBase64,
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

  it("keeps the sender's ephemeral key out of the cache: one import per message, shared by its DHs", async () => {
    const target: Target = { aid: 'bob.aid.com', deviceId: 'dev-b1', ikSpki: bob.publicSpki, keySource: 'peer_device_prekey', spkId: spkIdOf(bobSpk.publicSpki), spkSpki: bobSpk.publicSpki };
    const env = await encryptP2P({ aid: 'alice.aid.com', deviceId: 'dev-a1', ik: alice }, [target], { type: 'text', text: 'x' });
    const keys: DecryptKeys = {
      selfAid: 'bob.aid.com', selfDeviceId: 'dev-b1', senderIkSpki: alice.publicSpki,
      ik: await importPrivateKey(new Uint8Array(bob.scalar!), { keepScalar: false }),
      spk: await importPrivateKey(new Uint8Array(bobSpk.scalar!), { keepScalar: false }),
    };
    await decryptEnvelope(env, keys);
    const spy = vi.spyOn(crypto.subtle, 'importKey');
    await decryptEnvelope(env, keys);
    const spkiImports = spy.mock.calls.filter((c) => c[0] === 'spki').map((c) => toBase64(new Uint8Array(c[1] as ArrayBuffer)));
    // The sender's IK (for the signature and for DH2) stays cached; the ephemeral key is imported anew.
    expect(spkiImports).toEqual([env.sender_session_pk]);
  });

  it('follows the bytes, not the array: an SPKI array changed in place is a different key', async () => {
    const mine = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const spki = bob.publicSpki.slice();
    const withBob = await ecdh(mine, spki);
    spki.set(carol.publicSpki);
    const withCarol = await ecdh(mine, spki);
    expect(withCarol).toEqual(await ecdh(mine, carol.publicSpki.slice()));
    expect(withCarol).not.toEqual(withBob);
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

  it('the body, decrypted ahead, fails only after the metadata HMACs and in place of a bad nonce', async () => {
    // The top-level nonce is not signed, so a changed one reaches the body's AES.
    const sealed = await env();
    const flip = (b64: string): string => {
      const b = fromBase64(b64);
      b[0]! ^= 0x01;
      return toBase64(b);
    };
    const headers = { ...sealed.protected_headers!, sdk_lang: 'other' };
    await expectE2eeError(decryptEnvelope({ ...sealed, nonce: flip(sealed.nonce), protected_headers: headers }, keys()), 'header_auth_failed');
    await expectE2eeError(decryptEnvelope({ ...sealed, nonce: flip(sealed.nonce) }, keys()), 'body_decrypt_failed');
    await expectE2eeError(decryptEnvelope({ ...sealed, nonce: '!' }, keys()), 'malformed', 'nonce');
    await expectE2eeError(decryptEnvelope({ ...sealed, nonce: '!', protected_headers: headers }, keys()), 'header_auth_failed');
  });
});
