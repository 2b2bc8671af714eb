// Signed prekeys (SPK): generation, signature, publication params, and turning bootstrap device
// entries into verified encryption targets under the server's wrap policy
// (spec/e2ee-v2.md §4.2–§4.5).

import type { PutGroupPkParams, PutPeerPkParams, WrapCapabilities } from '../../protocol/methods.ts';
import { concatBytes, equalBytes, fromBase64, isBase64, toBase64, utf8 } from '../../protocol/bytes.ts';
import { describeCause, E2eeError, SpkVerificationError } from './errors.ts';
import type { Target } from './envelope.ts';
import { fp, parseSpki, type P256PrivateKey } from './keys.ts';
import { generatePrivateKey } from './noble.ts';
import { isPlainObject } from './metadata.ts';
import { signRaw, verifyRaw } from './primitives.ts';
import type { KeySource, Role } from '../../protocol/recipients.ts';
import { normalizeGroupId } from './state-commitment.ts';

/** Sent in every bootstrap call (§4.3). */
export const E2EE_WRAP_CAPABILITIES = {
  version: 'v2.1',
  protocols: ['1DH', '3DH'],
  scopes: ['aid', 'device'],
  per_aid_wrap: true,
  per_device_wrap: true,
} as const satisfies WrapCapabilities;

export interface SignedPrekey {
  key: P256PrivateKey;
  spkId: string;
  /** Unix seconds, as signed. */
  timestamp: number;
  signature: Uint8Array;
}

/** `spk_id` = fp(SPK SPKI), `^sha256:[0-9a-f]{16}$`. */
export function spkIdOf(spkSpki: Uint8Array): string {
  return fp(spkSpki);
}

/** The signed bytes: SPK SPKI ‖ UTF-8(spk_id) ‖ UTF-8(decimal seconds). */
export function spkSignInput(spkSpki: Uint8Array, spkId: string, timestamp: number | string): Uint8Array {
  return concatBytes(spkSpki, utf8(spkId), utf8(String(timestamp)));
}

/** Signs an SPK with the IK (raw r‖s) at `nowMs`, floored to seconds. */
export async function signPrekey(ik: P256PrivateKey, spk: P256PrivateKey, nowMs = Date.now()): Promise<SignedPrekey> {
  const spkId = spkIdOf(spk.publicSpki);
  const timestamp = Math.floor(nowMs / 1000);
  const signature = await signRaw(ik, spkSignInput(spk.publicSpki, spkId, timestamp));
  return { key: spk, spkId, timestamp, signature };
}

export async function generateSignedPrekey(ik: P256PrivateKey, nowMs = Date.now()): Promise<SignedPrekey> {
  return signPrekey(ik, await generatePrivateKey(), nowMs);
}

export function verifySpkSignature(
  ikSpki: Uint8Array,
  spkSpki: Uint8Array,
  spkId: string,
  timestamp: number | string,
  signature: Uint8Array,
): Promise<boolean> {
  return verifyRaw(ikSpki, spkSignInput(spkSpki, spkId, timestamp), signature);
}

function spkFields(spk: SignedPrekey) {
  return {
    spk_id: spk.spkId,
    spk_pk: toBase64(spk.key.publicSpki),
    spk_signature: toBase64(spk.signature),
    spk_timestamp: spk.timestamp,
  };
}

/** `message.v2.put_peer_pk` params; the server takes the device from the connection. */
export function putPeerPkParams(ownAid: string, spk: SignedPrekey): PutPeerPkParams {
  return { peer_aid: ownAid, key_source: 'peer_device_prekey', ...spkFields(spk) };
}

/** `group.v2.put_group_pk` params, with both ids set to the normalised group id. */
export function putGroupPkParams(groupId: string, spk: SignedPrekey): PutGroupPkParams {
  const gk = normalizeGroupId(groupId);
  return { group_id: gk, group_aid: gk, key_source: 'group_device_prekey', ...spkFields(spk) };
}

// ---- bootstrap entries → targets ----

export interface BootstrapContext {
  role: Role;
  /** The AID for entries that carry none (P2P `peer_devices`). */
  aid?: string;
  /** Our own IK for ourselves, else the SPKI of the AID's chain-verified certificate. */
  trustedIk: (aid: string) => Uint8Array | undefined;
  /**
   * [GAP] Also require a 1DH entry's `ik_pk` to equal the trusted IK. The reference trusts the
   * server's `ik_pk` for 1DH; turning this on closes that without changing the wire format.
   */
  strictIk?: boolean;
}

const PREKEY_SOURCES: ReadonlySet<string> = new Set(['peer_device_prekey', 'group_device_prekey']);

function text(v: unknown): string {
  return v === undefined || v === null ? '' : String(v).trim();
}

function decodeKey(entry: Record<string, unknown>, field: string): Uint8Array {
  try {
    const der = fromBase64(String(entry[field]));
    parseSpki(der);
    return der;
  } catch (exc) {
    throw new E2eeError('malformed', `bootstrap ${field} is not a P-256 SPKI: ${describeCause(exc)}`, { cause: exc });
  }
}

/** §4.4 step 7: the decimal text that was signed, or undefined when the value is not acceptable. */
function timestampText(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : undefined;
  if (typeof v === 'string' && /^\d+$/.test(v)) return v.replace(/^0+(?=\d)/, '');
  return undefined;
}

/**
 * One bootstrap device entry as a target, or null for an entry the reference skips (no
 * `device_id`/`owner_device_id` key, no aid, no `ik_pk`). An entry with an `spk_id` is verified in
 * the §4.4 order and throws SpkVerificationError at the first failure.
 */
export async function targetFromBootstrapEntry(entry: unknown, ctx: BootstrapContext): Promise<Target | null> {
  if (!isPlainObject(entry)) return null;
  const deviceKey = 'device_id' in entry ? 'device_id' : 'owner_device_id' in entry ? 'owner_device_id' : undefined;
  const aid = text(entry.aid) || text(ctx.aid);
  if (!deviceKey || !aid || !text(entry.ik_pk)) return null;
  const deviceId = text(entry[deviceKey]);
  const keySource = text(entry.key_source) || 'peer_device_prekey';
  const spkId = text(entry.spk_id);
  const ikSpki = decodeKey(entry, 'ik_pk');
  const trusted = ctx.trustedIk(aid);
  const reject = (reason: ConstructorParameters<typeof SpkVerificationError>[0]): SpkVerificationError =>
    new SpkVerificationError(reason, { aid, deviceId, spkId });

  if (!spkId) {
    if (ctx.strictIk && !(trusted && equalBytes(ikSpki, trusted))) throw reject('spk_ik_mismatch');
    return { aid, deviceId, role: ctx.role, ikSpki, keySource: keySource as KeySource };
  }
  if (!PREKEY_SOURCES.has(keySource)) throw reject('spk_key_source_invalid');
  if (!text(entry.spk_pk)) throw reject('spk_public_key_missing');
  const spkSpki = decodeKey(entry, 'spk_pk');
  if (spkId !== spkIdOf(spkSpki)) throw reject('spk_id_mismatch');
  if (!trusted || !equalBytes(ikSpki, trusted)) throw reject('spk_ik_mismatch');
  const target: Target = { aid, deviceId, role: ctx.role, ikSpki, keySource: keySource as KeySource, spkId, spkSpki };
  // Old peers publish their IK as SPK; that needs no signature.
  if (equalBytes(spkSpki, trusted)) return target;

  const sig = entry.spk_signature;
  if (typeof sig !== 'string' || !sig) throw reject('spk_signature_missing');
  if (!isBase64(sig)) throw reject('spk_signature_invalid_base64');
  const ts = entry.spk_timestamp;
  if (ts === undefined || ts === null || ts === '') throw reject('spk_timestamp_missing');
  const tsText = timestampText(ts);
  if (tsText === undefined) throw reject('spk_timestamp_invalid');
  if (!(await verifySpkSignature(trusted, spkSpki, spkId, tsText, fromBase64(sig)))) throw reject('spk_signature_invalid');
  return target;
}

/** All entries of one bootstrap list; one bad device aborts the whole send, as in the reference. */
export async function buildTargets(entries: readonly unknown[], ctx: BootstrapContext): Promise<Target[]> {
  const targets = await Promise.all(entries.map((e) => targetFromBootstrapEntry(e, ctx)));
  return targets.filter((t): t is Target => t !== null);
}

/** The server's `e2ee_wrap_policy`, normalised (§4.3); undefined = legacy per-device, 3DH where possible. */
export interface WrapPolicy {
  protocol?: '1DH' | '3DH';
  scope?: 'aid' | 'device';
}

export function normalizeWrapPolicy(raw: unknown): WrapPolicy | undefined {
  if (!isPlainObject(raw)) return undefined;
  const protocol = text(raw.protocol).toUpperCase();
  let scope = text(raw.scope).toLowerCase();
  if (scope !== 'aid' && scope !== 'device') {
    scope = raw.per_aid_wrap === true ? 'aid' : raw.per_device_wrap === true ? 'device' : '';
  }
  const policy: WrapPolicy = {};
  if (scope === 'aid' || scope === 'device') policy.scope = scope;
  // A per-AID wrap reaches every device of the AID, and only the AID key is shared by all.
  if (scope === 'aid') policy.protocol = '1DH';
  else if (protocol === '1DH' || protocol === '3DH') policy.protocol = protocol;
  return policy.protocol || policy.scope ? policy : undefined;
}

/** `protocol=1DH` drops SPKs; `scope=aid` keeps the first target per (aid, role) as a per-AID wrap. */
export function applyWrapPolicy(targets: readonly Target[], policy: WrapPolicy | undefined): Target[] {
  if (!policy) return [...targets];
  const out = targets.map((t): Target => {
    if (policy.protocol !== '1DH') return { ...t };
    const { spkId: _spkId, spkSpki: _spkSpki, ...rest } = t;
    return { ...rest, keySource: 'aid_master' };
  });
  if (policy.scope !== 'aid') return out;
  const firsts = new Map<string, Target>();
  for (const t of out) {
    const key = `${t.aid}\u0000${t.role ?? ''}`;
    if (!firsts.has(key)) firsts.set(key, { ...t, deviceId: '' });
  }
  return [...firsts.values()];
}
