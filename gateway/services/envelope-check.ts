// Server-side V2 checks shared by the message and group services (spec/e2ee-v2.md §3, §4.2;
// protocol.md §6.1, §7, §8.3): envelope shape, sender binding, recipient rows (8 strings, sorted,
// Merkle digest), freshness, and SPK registration. The gateway never decrypts: every check here
// reads only unencrypted envelope fields.

import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { P256_SPKI_LENGTH } from '../../protocol/bytes.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { type JsonObject } from '../../protocol/frames.ts';
import { GROUP_ENVELOPE_TYPE, P2P_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import { isRecipientRow, recipientsDigest, type RecipientRow } from '../../protocol/recipients.ts';
import { RpcError, type AgentRecord, type GatewayConfig } from '../context.ts';
import { int, str } from '../validate.ts';

export const V2 = 'v2';

export type { RecipientRow };

export const ROW = { aid: 0, deviceId: 1, role: 2, keySource: 3, fp: 4, spkId: 5 } as const;

const KEY_SOURCES: ReadonlySet<string> = new Set(['peer_device_prekey', 'group_device_prekey', 'aid_master']);
const MAX_ROWS = 1024;
const MAX_ID = 256;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const P256_RAW_SIGNATURE_BYTES = 64;

/** The envelope fields the gateway acts on, after the shape checks. */
export interface CheckedEnvelope {
  envelope: JsonObject;
  aad: Record<string, unknown>;
  messageId: string;
  rows: RecipientRow[];
}

function malformed(what: string): never {
  throw new RpcError(ErrorCode.InvalidParams, `invalid V2 envelope: ${what}`);
}

export function mismatch(what: string, data?: unknown): never {
  throw new RpcError(ErrorCode.V2RecipientMismatch, `recipient_mismatch: ${what}`, data);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a message.send payload is a V2 P2P envelope (spec §6.1: type and version decide). */
export function isP2pV2Envelope(payload: Record<string, unknown>): boolean {
  return payload.type === P2P_ENVELOPE_TYPE && payload.version === V2;
}

/**
 * Checks the shape of a V2 envelope of the given type (§3.1, §3.3): the string fields every
 * decoder needs, an `aad` object with `from`, `from_device` and `message_id`, and the rows.
 * Throws -32602 naming the first bad field.
 */
export function checkEnvelopeShape(envelope: JsonObject, type: typeof P2P_ENVELOPE_TYPE | typeof GROUP_ENVELOPE_TYPE): CheckedEnvelope {
  if (envelope.type !== type) malformed(`type must be "${type}"`);
  if (envelope.version !== V2) malformed('version must be "v2"');
  for (const field of ['nonce', 'ciphertext', 'tag', 'sender_signature', 'sender_session_pk', 'recipients_digest']) {
    if (typeof envelope[field] !== 'string') malformed(`${field} must be a string`);
  }
  const aad = envelope.aad;
  if (!isRecord(aad)) malformed('aad must be an object');
  for (const field of ['from', 'from_device', 'message_id']) {
    const v = aad[field];
    if (typeof v !== 'string' || v === '' || v.length > MAX_ID) malformed(`aad.${field} must be a non-empty string of at most ${MAX_ID} characters`);
  }
  const recipients = envelope.recipients;
  if (!Array.isArray(recipients)) malformed('recipients must be an array of rows');
  if (recipients.length > MAX_ROWS) malformed(`at most ${MAX_ROWS} recipient rows`);
  const rows = recipients.map((row, i) => {
    if (!isRecipientRow(row)) malformed(`recipients[${i}] must be an array of exactly 8 strings`);
    if (!KEY_SOURCES.has(row[ROW.keySource])) malformed(`recipients[${i}] key_source must be one of ${[...KEY_SOURCES].join(', ')}`);
    return row;
  });
  return { envelope, aad, messageId: aad.message_id as string, rows };
}

/** aad.from / aad.from_device must be the calling connection (§6.1, §8.3). */
export function checkSender(aad: Record<string, unknown>, aid: string, deviceId: string): void {
  if (aad.from !== aid) mismatch(`aad.from ${String(aad.from)} is not the caller ${aid}`);
  if (aad.from_device !== deviceId) mismatch(`aad.from_device ${String(aad.from_device)} is not the caller's device ${deviceId}`);
}

function rowLess(a: RecipientRow, b: RecipientRow): boolean {
  for (const k of [ROW.aid, ROW.deviceId, ROW.role]) {
    if (a[k] < b[k]) return true;
    if (a[k] > b[k]) return false;
  }
  return false;
}

/**
 * Rows sorted ascending by (aid, device_id, role) with plain `<` (UTF-16, as the JS SDK sorts;
 * equal keys allowed, as a stable sort leaves them), and the Merkle root over them equal to
 * `recipients_digest` (§3.4, §3.5). Both failures are -33050 so the SDK rebuilds and retries.
 */
export function checkRowsAndDigest(checked: CheckedEnvelope): void {
  const { rows, envelope } = checked;
  for (let i = 1; i < rows.length; i++) {
    if (rowLess(rows[i]!, rows[i - 1]!)) mismatch(`recipients are not sorted by (aid, device_id, role) at row ${i}`);
  }
  const digest = recipientsDigest(rows);
  if (digest !== envelope.recipients_digest) mismatch('recipients_digest does not match the recipient rows');
}

/**
 * t_send (unsigned) and aad.timestamp (authenticated), whichever are present, must lie within
 * [now - sendMaxAgeMs, now + sendMaxFutureMs]; at least one must be present.
 */
export function checkFreshness(checked: CheckedEnvelope, now: number, config: GatewayConfig): void {
  const stamps: [string, unknown][] = [['t_send', checked.envelope.t_send], ['aad.timestamp', checked.aad.timestamp]];
  let seen = 0;
  for (const [name, v] of stamps) {
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) malformed(`${name} must be an integer (Unix milliseconds)`);
    seen++;
    if (v < now - config.sendMaxAgeMs) {
      throw new RpcError(ErrorCode.InvalidParams, `stale V2 envelope: ${name} ${v} is more than ${config.sendMaxAgeMs} ms in the past (server time ${now})`);
    }
    if (v > now + config.sendMaxFutureMs) {
      throw new RpcError(ErrorCode.InvalidParams, `V2 envelope from the future: ${name} ${v} is more than ${config.sendMaxFutureMs} ms ahead of server time ${now}`);
    }
  }
  if (seen === 0) malformed('t_send or aad.timestamp (Unix milliseconds) is required');
}

/** -33011 unless `deviceId` is one of `known`. */
export function checkDeviceKnown(aid: string, deviceId: string, known: ReadonlySet<string>): void {
  if (!known.has(deviceId)) {
    throw new RpcError(ErrorCode.V2DeviceNotFound, `device_not_found: ${aid} has no device ${deviceId}; bootstrap again`, { aid, device_id: deviceId });
  }
}

// ---- identity keys and SPKs (§1.8, §4.2; protocol.md §7) ----

/** fp(pub_der) = "sha256:" + the first 16 hex of SHA-256(SPKI DER). */
export function keyFingerprint(spkiDer: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(spkiDer).digest('hex').slice(0, 16);
}

/** The `ik_pk` / `ik_fp` fields of a bootstrap device entry for an agent. */
export function identityKeyFields(agent: AgentRecord): { ik_pk: string; ik_fp: string } {
  return { ik_pk: agent.publicKey, ik_fp: keyFingerprint(Buffer.from(agent.publicKey, 'base64')) };
}

export interface SpkRecord {
  key_source: 'peer_device_prekey' | 'group_device_prekey';
  spk_id: string;
  spk_pk: string;
  spk_signature: string;
  spk_timestamp: number;
}

function p256Key(spkiDer: Buffer, field: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field} is not a SubjectPublicKeyInfo (DER, base64)`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field} must be a P-256 public key`);
  }
  return key;
}

/**
 * Devices one AID may hold a prekey for: P2P SPKs (`message.v2.put_peer_pk`), and group SPKs per
 * group (`group.v2.put_group_pk`). The spec names a per-AID device quota (`quota_kind:
 * "aid_devices"`) without its value; without one, a single AID could make every bootstrap and
 * every send naming it walk thousands of device ids. See docs/decisions.md.
 */
export const MAX_DEVICES_PER_AID = 64;

/** PermissionDenied (-32004) when `deviceId` would be prekey device `count + 1` of `aid`. */
export function checkDeviceQuota(aid: string, deviceId: string, count: number, what: string): void {
  if (count < MAX_DEVICES_PER_AID) return;
  throw new RpcError(
    ErrorCode.PermissionDenied,
    `device limit: ${aid} already has ${what} for ${count} devices, at most ${MAX_DEVICES_PER_AID}; device ${deviceId} cannot add one (reuse a device id)`,
    { quota_kind: 'aid_devices', limit: MAX_DEVICES_PER_AID, aid, device_id: deviceId },
  );
}

/**
 * Reads and verifies an SPK upload (`message.v2.put_peer_pk`, `group.v2.put_group_pk`):
 * key_source as expected, spk_pk a P-256 SPKI, spk_id = fp(spk_pk), and spk_signature the raw
 * r‖s ECDSA-P256-SHA256 by the AID key over SPK_DER ‖ spk_id ‖ decimal spk_timestamp (high-S
 * accepted, as the SDKs verify with lowS:false). An SPK equal to the IK is accepted without a
 * signature, as the SDK accepts it (§4.4 step 5).
 */
export function readSpk(params: object, keySource: SpkRecord['key_source'], agent: AgentRecord): SpkRecord {
  const source = str(params, 'key_source', { max: 64 });
  if (source !== keySource) throw new RpcError(ErrorCode.InvalidParams, `invalid params: key_source must be "${keySource}", got "${source}"`);
  const spkPk = str(params, 'spk_pk', { max: 512, pattern: B64 });
  const spkId = str(params, 'spk_id', { max: 64 });
  const spkSignature = str(params, 'spk_signature', { max: 512, pattern: B64 });
  const spkTimestamp = int(params, 'spk_timestamp', { min: 0 });
  const spkDer = Buffer.from(spkPk, 'base64');
  if (spkDer.length !== P256_SPKI_LENGTH) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: spk_pk must be an uncompressed P-256 SubjectPublicKeyInfo (91 bytes DER, base64)');
  p256Key(spkDer, 'spk_pk');
  const expectedId = keyFingerprint(spkDer);
  if (spkId !== expectedId) throw new RpcError(ErrorCode.InvalidParams, `invalid params: spk_id ${spkId} does not match spk_pk (expected ${expectedId} = "sha256:" + first 16 hex of SHA-256(spk_pk))`);
  const record: SpkRecord = { key_source: keySource, spk_id: spkId, spk_pk: spkDer.toString('base64'), spk_signature: spkSignature, spk_timestamp: spkTimestamp };
  const ikDer = Buffer.from(agent.publicKey, 'base64');
  if (spkDer.equals(ikDer)) return record;
  const sig = Buffer.from(spkSignature, 'base64');
  if (sig.length !== P256_RAW_SIGNATURE_BYTES) {
    throw new RpcError(ErrorCode.InvalidParams, `invalid params: spk_signature must be a raw r||s ECDSA signature (64 bytes, base64), got ${sig.length} bytes`);
  }
  const signed = Buffer.concat([spkDer, Buffer.from(spkId, 'utf8'), Buffer.from(String(spkTimestamp), 'utf8')]);
  let ok = false;
  try {
    ok = verify('sha256', signed, { key: p256Key(ikDer, 'identity key'), dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new RpcError(ErrorCode.SignatureFailed, `spk_signature verification failed: not a signature by ${agent.aid}'s certificate key over spk_pk || spk_id || "${spkTimestamp}"`);
  }
  return record;
}
