import { describe, expect, it } from 'vitest';
import {
  applyWrapPolicy,
  buildTargets,
  E2EE_WRAP_CAPABILITIES,
  fromBase64,
  generateSignedPrekey,
  normalizeWrapPolicy,
  putGroupPkParams,
  putPeerPkParams,
  signPrekey,
  SpkVerificationError,
  spkIdOf,
  toBase64,
  targetFromBootstrapEntry,
  verifySpkSignature,
  type BootstrapContext,
  type Target,
} from '../../../worker/e2ee/index.ts';
import { alice, bob, bobSpk, carol } from './fixtures.ts';

const NOW = 1710504000123;
const trusted: Record<string, Uint8Array> = { 'bob.aid.com': bob.publicSpki, 'alice.aid.com': alice.publicSpki };
const ctx: BootstrapContext = { role: 'peer', aid: 'bob.aid.com', trustedIk: (aid) => trusted[aid] };

async function bobEntry(overrides: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const spk = await signPrekey(bob, bobSpk, NOW);
  return { device_id: 'dev-b1', ik_pk: toBase64(bob.publicSpki), ...putPeerPkParams('bob.aid.com', spk), ...overrides };
}

async function rejection(entry: unknown, c: BootstrapContext = ctx): Promise<string> {
  const err = await targetFromBootstrapEntry(entry, c).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SpkVerificationError);
  return (err as SpkVerificationError).reason;
}

describe('SPK generation and signature', () => {
  it('spk_id is fp(SPKI); the signature covers SPKI ‖ spk_id ‖ seconds', async () => {
    const spk = await generateSignedPrekey(alice, NOW);
    expect(spk.spkId).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(spk.spkId).toBe(spkIdOf(spk.key.publicSpki));
    expect(spk.timestamp).toBe(1710504000);
    expect(spk.signature.length).toBe(64);
    expect(await verifySpkSignature(alice.publicSpki, spk.key.publicSpki, spk.spkId, '1710504000', spk.signature)).toBe(true);
    expect(await verifySpkSignature(alice.publicSpki, spk.key.publicSpki, spk.spkId, 1710504001, spk.signature)).toBe(false);
    expect(await verifySpkSignature(bob.publicSpki, spk.key.publicSpki, spk.spkId, 1710504000, spk.signature)).toBe(false);
  });

  it('builds the put_peer_pk and put_group_pk params', async () => {
    const spk = await signPrekey(bob, bobSpk, NOW);
    expect(putPeerPkParams('bob.aid.com', spk)).toEqual({
      peer_aid: 'bob.aid.com', key_source: 'peer_device_prekey', spk_id: spk.spkId, spk_pk: toBase64(bobSpk.publicSpki),
      spk_signature: toBase64(spk.signature), spk_timestamp: 1710504000,
    });
    expect(putGroupPkParams('G@AID.com', spk)).toMatchObject({ group_id: 'g.aid.com', group_aid: 'g.aid.com', key_source: 'group_device_prekey' });
  });
});

describe('targets from bootstrap entries (§4.4)', () => {
  it('accepts a verified SPK, also with a zero-padded string timestamp', async () => {
    const target = await targetFromBootstrapEntry(await bobEntry(), ctx);
    expect(target).toMatchObject({ aid: 'bob.aid.com', deviceId: 'dev-b1', role: 'peer', keySource: 'peer_device_prekey', spkId: spkIdOf(bobSpk.publicSpki) });
    expect(target?.spkSpki).toEqual(bobSpk.publicSpki);
    expect(await targetFromBootstrapEntry(await bobEntry({ spk_timestamp: '001710504000' }), ctx)).not.toBeNull();
  });

  it('rejects in the documented order', async () => {
    expect(await rejection(await bobEntry({ key_source: 'aid_master' }))).toBe('spk_key_source_invalid');
    expect(await rejection(await bobEntry({ spk_pk: '' }))).toBe('spk_public_key_missing');
    expect(await rejection(await bobEntry({ spk_id: 'sha256:0000000000000000' }))).toBe('spk_id_mismatch');
    expect(await rejection(await bobEntry({ ik_pk: toBase64(carol.publicSpki) }))).toBe('spk_ik_mismatch');
    expect(await rejection(await bobEntry(), { ...ctx, trustedIk: () => undefined })).toBe('spk_ik_mismatch');
    expect(await rejection(await bobEntry({ spk_signature: undefined }))).toBe('spk_signature_missing');
    expect(await rejection(await bobEntry({ spk_signature: 'a b c' }))).toBe('spk_signature_invalid_base64');
    expect(await rejection(await bobEntry({ spk_timestamp: null }))).toBe('spk_timestamp_missing');
    expect(await rejection(await bobEntry({ spk_timestamp: true }))).toBe('spk_timestamp_invalid');
    expect(await rejection(await bobEntry({ spk_timestamp: '17e8' }))).toBe('spk_timestamp_invalid');
    expect(await rejection(await bobEntry({ spk_timestamp: 1710504001 }))).toBe('spk_signature_invalid');
    const sig = fromBase64(String((await bobEntry()).spk_signature));
    sig[10]! ^= 1;
    expect(await rejection(await bobEntry({ spk_signature: toBase64(sig) }))).toBe('spk_signature_invalid');
  });

  it('names the device in the message', async () => {
    const err = await targetFromBootstrapEntry(await bobEntry({ spk_id: 'sha256:0000000000000000' }), ctx).catch((e: Error) => e);
    expect((err as Error).message).toBe('spk_id_mismatch: aid=bob.aid.com device_id=dev-b1 spk_id=sha256:0000000000000000');
  });

  it('accepts the IK published as SPK without a signature', async () => {
    const entry = { device_id: 'd', ik_pk: toBase64(bob.publicSpki), spk_pk: toBase64(bob.publicSpki), spk_id: spkIdOf(bob.publicSpki) };
    expect(await targetFromBootstrapEntry(entry, ctx)).toMatchObject({ spkId: spkIdOf(bob.publicSpki) });
  });

  it('skips entries without a device_id key, aid or ik_pk; one bad entry aborts the list', async () => {
    const good = await bobEntry();
    const { device_id: _d, ...noDevice } = good;
    expect(await buildTargets([good, noDevice, { ...good, ik_pk: '' }, { owner_device_id: '', ik_pk: good.ik_pk }], ctx)).toHaveLength(2);
    expect(await targetFromBootstrapEntry(good, { ...ctx, aid: undefined })).toBeNull();
    await expect(buildTargets([good, { ...good, spk_id: 'sha256:0000000000000000' }], ctx)).rejects.toBeInstanceOf(SpkVerificationError);
  });

  it('trusts the server ik_pk for 1DH entries unless strictIk is on', async () => {
    const entry = { device_id: 'd', ik_pk: toBase64(carol.publicSpki) };
    expect(await targetFromBootstrapEntry(entry, ctx)).toMatchObject({ ikSpki: carol.publicSpki });
    expect(await rejection(entry, { ...ctx, strictIk: true })).toBe('spk_ik_mismatch');
  });
});

describe('wrap policy', () => {
  it('declares the exact capability object', () => {
    expect(JSON.stringify(E2EE_WRAP_CAPABILITIES)).toBe(
      '{"version":"v2.1","protocols":["1DH","3DH"],"scopes":["aid","device"],"per_aid_wrap":true,"per_device_wrap":true}',
    );
  });

  it('normalises like the reference', () => {
    expect(normalizeWrapPolicy(undefined)).toBeUndefined();
    expect(normalizeWrapPolicy({})).toBeUndefined();
    expect(normalizeWrapPolicy({ protocol: '3dh', scope: 'AID' })).toEqual({ protocol: '1DH', scope: 'aid' });
    expect(normalizeWrapPolicy({ protocol: '3DH', per_device_wrap: true })).toEqual({ protocol: '3DH', scope: 'device' });
    expect(normalizeWrapPolicy({ per_aid_wrap: true })).toEqual({ protocol: '1DH', scope: 'aid' });
  });

  it('1DH strips SPKs; scope aid keeps one per-AID target per (aid, role)', () => {
    const t = (deviceId: string, role: Target['role'] = 'peer'): Target => ({
      aid: 'bob.aid.com', deviceId, role, ikSpki: bob.publicSpki, keySource: 'peer_device_prekey', spkId: 's', spkSpki: bobSpk.publicSpki,
    });
    const oneDh = applyWrapPolicy([t('d1')], { protocol: '1DH' });
    expect(oneDh[0]).toEqual({ aid: 'bob.aid.com', deviceId: 'd1', role: 'peer', ikSpki: bob.publicSpki, keySource: 'aid_master' });
    const perAid = applyWrapPolicy([t('d1'), t('d2'), t('d3', 'audit')], { protocol: '1DH', scope: 'aid' });
    expect(perAid.map((x) => [x.deviceId, x.role, x.spkId])).toEqual([['', 'peer', undefined], ['', 'audit', undefined]]);
    expect(applyWrapPolicy([t('d1')], undefined)[0]?.spkId).toBe('s');
  });
});
