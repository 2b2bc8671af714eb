// P2P (`e2ee.p2p_encrypted`) and group (`e2ee.group_encrypted`) envelopes: encryption per
// spec/e2ee-v2.md §3.8 and decryption in the order of §6.1, plus the optional [GAP] checks of
// §6.3, which only reject more and never change what goes on the wire.

import { base64Length, decodeBase64Into, fromBase64, fromUtf8, hexInto, isBase64, isHexOf, toBase64, toHex, utf8Bound, utf8Fit, utf8Into } from '../../protocol/bytes.ts';
import { canonicalJsonText } from '../../protocol/canonical.ts';
import { describeCause, E2eeError } from './errors.ts';
import { fp, generateEphemeralKey, type P256PrivateKey } from './keys.ts';
import { isPlainObject, normalizeProtectedHeaders, verifyMetadataAuth, withMetadataAuth } from './metadata.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ephemeralKey,
  NONCE_LENGTH,
  TAG_LENGTH,
  receiverWrapKey1DH,
  receiverWrapKey3DH,
  senderWrapKey1DH,
  senderWrapKey3DH,
  signRaw,
  SUITE,
  unwrapMasterKey,
  verifyRaw,
  wrapMasterKey,
  wrapSalt,
} from './primitives.ts';
import {
  findRow,
  isRecipientRow,
  recipientsRoot,
  rowFromRecipient,
  sortRows,
  verifyMerkleProof,
  type KeySource,
  type RecipientRow,
  type Role,
} from '../../protocol/recipients.ts';
import { GROUP_ENVELOPE_TYPE, P2P_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import { normalizeGroupId } from './state-commitment.ts';

export const ENVELOPE_VERSION = 'v2';
export const MASTER_KEY_LENGTH = 32;

/** The sender's AID identity key (IK) and device. */
export interface Sender {
  aid: string;
  deviceId: string;
  ik: P256PrivateKey;
}

/** One wrap to make: a device (`deviceId` non-empty) or a whole AID (`deviceId: ""`, 1DH only). */
export interface Target {
  aid: string;
  deviceId: string;
  /** Defaults to `peer` (P2P) or `member` (group), as in the reference encryptor. */
  role?: Role;
  ikSpki: Uint8Array;
  keySource?: KeySource;
  spkId?: string;
  spkSpki?: Uint8Array;
}

export interface StateCommitment {
  state_version: number;
  state_hash: string;
  state_chain: string;
}

export interface EncryptOptions {
  messageId?: string;
  /** Unix milliseconds; also `t_send`. */
  timestamp?: number;
  protectedHeaders?: Record<string, unknown>;
  context?: Record<string, unknown>;
  /** Test hook: a deterministic source for every random byte (keys, nonces) of the message. */
  random?: (n: number) => Uint8Array;
}

export interface GroupContext {
  groupId: string;
  epoch?: number;
  stateCommitment?: Partial<Record<keyof StateCommitment, unknown>>;
}

export interface Envelope {
  type: typeof P2P_ENVELOPE_TYPE | typeof GROUP_ENVELOPE_TYPE;
  version: typeof ENVELOPE_VERSION;
  suite: string;
  msg_type: 'original';
  group_id?: string;
  epoch?: number;
  t_send: number;
  t_supplement?: null;
  t_server: null;
  nonce: string;
  ciphertext: string;
  tag: string;
  sender_signature: string;
  sender_cert_fingerprint: string;
  sender_session_pk: string;
  recipients_digest: string;
  recipients: RecipientRow[];
  aad: Record<string, unknown>;
  payload_type?: string;
  protected_headers?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

/** §4.5, plus a per-AID target never takes an SPK: other devices of the AID do not hold it. */
export function usesSpkWrap(t: Target): boolean {
  return Boolean(
    t.spkId && t.spkSpki && t.deviceId !== '' && (t.keySource === 'peer_device_prekey' || t.keySource === 'group_device_prekey'),
  );
}

/** §3.6: the sorted set of paths over all targets joined by `+`; `1DH` when there are none. */
export function wrapProtocol(targets: readonly Target[]): string {
  const set = new Set(targets.map((t) => (usesSpkWrap(t) ? '3DH' : '1DH')));
  return set.size ? [...set].sort().join('+') : '1DH';
}

/** §3.3: the AAD object from `group.v2.bootstrap` fields (an empty `state_hash_signed` is kept). */
export function stateCommitmentFromBootstrap(b: Record<string, unknown>): StateCommitment {
  return normalizeStateCommitment({ state_version: b.state_version, state_hash: b.state_hash_signed ?? b.state_hash, state_chain: b.state_chain });
}

function normalizeStateCommitment(sc: GroupContext['stateCommitment'] = {}): StateCommitment {
  const version = Number(sc.state_version);
  return {
    state_version: Number.isFinite(version) ? Math.trunc(version) : 0,
    state_hash: typeof sc.state_hash === 'string' ? sc.state_hash : '',
    state_chain: typeof sc.state_chain === 'string' ? sc.state_chain : '',
  };
}

function canonicalText(value: unknown, what: string): string {
  try {
    return canonicalJsonText(value);
  } catch (exc) {
    throw new E2eeError('malformed', `${what} is not canonical JSON: ${describeCause(exc)}`, { cause: exc });
  }
}

/**
 * Every random byte of a message but its id: the hook's, else one draw into `room` (part of the
 * message's buffer: a new array would be an ArrayBuffer of its own) for the master key, the body
 * nonce and every wrap nonce, taken in that order.
 */
function randomSource(opts: EncryptOptions, room: Uint8Array): (n: number) => Uint8Array {
  if (opts.random) return opts.random;
  crypto.getRandomValues(room);
  let drawn = 0;
  return (n) => room.subarray(drawn, (drawn += n));
}

/**
 * Random bytes for message ids, 16 each, drawn 16 ids at a time (a call to getRandomValues costs
 * about 2 µs whatever its size) and each id's bytes zeroed once turned into its text. Ids are
 * public; a message's secret bytes are drawn apart, with the message (randomSource).
 */
const idPool = new Uint8Array(256);
let idDrawn = idPool.length;

/** `m-` and the 32 hex digits of a random (version 4) UUID: from 16 drawn bytes, or the engine's with a hook. */
function newMessageId(opts: EncryptOptions): string {
  if (opts.random) return 'm-' + crypto.randomUUID().replace(/-/g, '');
  if (idDrawn === idPool.length) {
    crypto.getRandomValues(idPool);
    idDrawn = 0;
  }
  const uuid = idPool.subarray(idDrawn, (idDrawn += 16));
  uuid[6] = (uuid[6]! & 0x0f) | 0x40;
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  const id = 'm-' + toHex(uuid);
  uuid.fill(0);
  return id;
}

// The buffers of messages done with them (encrypt: payload, then ct ‖ tag ‖ AAD ‖ digest, then the
// wrap keys, then the master key and nonces; decrypt: ct ‖ tag ‖ AAD ‖ digest, signature, keys and nonces), for the next message: a
// browser worker pays for a new ArrayBuffer in proportion to its size, about 3 µs a KB, and WebCrypto
// copies a fresh small array into one of its own. A buffer comes back only once everything that
// reads it has settled, and then holds public bytes only (the payload was overwritten by its
// ciphertext, each wrap key wiped once imported, the master key once the metadata tags are made); a message that fails leaves its buffer to the
// collector.
const spareBuffers: Uint8Array[] = [];
/** Behind a received message's bytes: its wrap key, then room for its wrap's nonce (12 bytes) and wrapped key (48). */
const WRAP_ROOM = MASTER_KEY_LENGTH + NONCE_LENGTH + MASTER_KEY_LENGTH + TAG_LENGTH;
const SPARE_MAX = 4;
const SPARE_MAX_BYTES = 64 * 1024;

function takeBuffer(n: number): Uint8Array {
  const i = spareBuffers.findIndex((b) => b.length >= n);
  return i < 0 ? new Uint8Array(n) : spareBuffers.splice(i, 1)[0]!;
}

function giveBack(b: Uint8Array): void {
  if (spareBuffers.length < SPARE_MAX && b.length <= SPARE_MAX_BYTES) spareBuffers.push(b);
}

/** The fields every envelope shares; the callers add the P2P- or group-specific ones. */
type SealedFields = Omit<Envelope, 'type' | 'msg_type' | 't_supplement' | 'group_id' | 'epoch'>;

/** §3.8 from the AAD on: body, session key, wraps, sorted rows, digest, signature, metadata. */
async function seal(
  sender: Sender,
  targets: readonly Target[],
  defaultRole: Role,
  payload: unknown,
  aad: Record<string, unknown> & { timestamp: number },
  opts: EncryptOptions,
): Promise<SealedFields> {
  const aadText = canonicalText(aad, 'aad');
  const payloadText = canonicalText(payload, 'payload');
  // One buffer for the message's bytes: the payload, room for the tag, the AAD, room for the
  // digest, then the wrap keys and the random bytes. The body is encrypted from its head
  // (WebCrypto copies its input when called), and the signed ct ‖ tag ‖ AAD ‖ digest is then
  // completed over it. The payload is written into room for its ASCII length first, and again
  // into room for 3 bytes a UTF-16 unit only when it did not fit there (no scan for a bound).
  const randomLength = MASTER_KEY_LENGTH + NONCE_LENGTH * (1 + targets.length);
  const behindPayload = TAG_LENGTH + utf8Bound(aadText) + 32 + MASTER_KEY_LENGTH * targets.length + randomLength;
  let bytes = takeBuffer(payloadText.length + behindPayload);
  let plainLength = utf8Fit(payloadText, bytes.subarray(0, payloadText.length));
  if (plainLength === undefined) {
    bytes.fill(0, 0, payloadText.length);
    giveBack(bytes);
    bytes = takeBuffer(3 * payloadText.length + behindPayload);
    plainLength = utf8Into(payloadText, bytes);
  }
  const signedRoom = plainLength + behindPayload - MASTER_KEY_LENGTH * targets.length - randomLength;
  const randomStart = signedRoom + MASTER_KEY_LENGTH * targets.length;
  const random = randomSource(opts, bytes.subarray(randomStart, randomStart + randomLength));
  const masterKey = random(MASTER_KEY_LENGTH);
  const msgNonce = random(NONCE_LENGTH);
  const aadStart = plainLength + TAG_LENGTH;
  const aadBytes = bytes.subarray(aadStart, aadStart + utf8Into(aadText, bytes.subarray(aadStart)));
  // Independent WebCrypto calls run together (the body, the ephemeral key, each row's static DH);
  // a `random` hook is still drawn from in the same order.
  const sealed = aesGcmEncrypt(masterKey, msgNonce, bytes.subarray(0, plainLength), aadBytes);
  const ephemeral = generateEphemeralKey(opts.random);
  const salt = ephemeral.then((e) => wrapSalt(aadBytes, e.publicSpki));
  const wrapNonces = targets.map(() => random(NONCE_LENGTH));
  salt.catch(() => undefined);
  const sealedRows = Promise.all(
    targets.map(async (t, i): Promise<RecipientRow> => {
      const use3 = usesSpkWrap(t);
      const keyRoom = bytes.subarray(signedRoom + MASTER_KEY_LENGTH * i, signedRoom + MASTER_KEY_LENGTH * (i + 1));
      const wrapKey = use3
        ? await senderWrapKey3DH(ephemeral, sender.ik, t.ikSpki, t.spkSpki!, salt, keyRoom)
        : await senderWrapKey1DH(ephemeral, t.ikSpki, salt, keyRoom);
      const nonce = wrapNonces[i]!;
      let wrapping: Promise<Uint8Array>;
      try {
        wrapping = wrapMasterKey(wrapKey, nonce, masterKey);
      } finally {
        wrapKey.fill(0);
      }
      const wrapped = await wrapping;
      const role = t.role ?? defaultRole;
      return [t.aid, t.deviceId, role, use3 ? t.keySource! : 'aid_master', fp(t.ikSpki), use3 ? t.spkId! : '', toBase64(nonce), toBase64(wrapped)];
    }),
  );
  const [{ ciphertext, tag }, eph, rows] = await Promise.all([sealed, ephemeral, sealedRows, salt]);
  const recipients = sortRows(rows);
  bytes.set(ciphertext);
  bytes.set(tag, plainLength);
  // The root's bytes go straight behind the AAD; no rows, no digest ("").
  let signedEnd = aadStart + aadBytes.length;
  let digest = '';
  if (recipients.length > 0) {
    const root = recipientsRoot(recipients);
    bytes.set(root, signedEnd);
    signedEnd += root.length;
    digest = toHex(root);
  }
  const signature = await signRaw(sender.ik, bytes.subarray(0, signedEnd));

  const envelope: SealedFields = {
    version: ENVELOPE_VERSION,
    suite: SUITE,
    t_send: aad.timestamp,
    t_server: null,
    nonce: toBase64(msgNonce),
    ciphertext: toBase64(ciphertext),
    tag: toBase64(tag),
    sender_signature: toBase64(signature),
    sender_cert_fingerprint: fp(sender.ik.publicSpki),
    sender_session_pk: toBase64(eph.publicSpki),
    recipients_digest: digest,
    recipients,
    aad,
  };
  const type = isPlainObject(payload) ? payload.type : undefined;
  if (type !== undefined && type !== null) envelope.payload_type = String(type);
  try {
    const headers = normalizeProtectedHeaders(opts.protectedHeaders, payload);
    envelope.protected_headers = withMetadataAuth(masterKey, 'protected_headers', headers);
    if (opts.context && Object.keys(opts.context).length > 0) envelope.context = withMetadataAuth(masterKey, 'context', opts.context);
  } finally {
    // The master key in the message's buffer (a hook's bytes are the hook's).
    if (!opts.random) masterKey.fill(0);
  }
  giveBack(bytes);
  return envelope;
}

function messageIdAndTime(opts: EncryptOptions): { message_id: string; timestamp: number } {
  return { message_id: opts.messageId ?? newMessageId(opts), timestamp: opts.timestamp ?? Date.now() };
}

/**
 * A P2P envelope for all targets (peer devices, self-sync devices, audit recipients).
 * `aad.to` is the AID of the first non-audit target, so list the peer's targets first.
 */
export async function encryptP2P(sender: Sender, targets: readonly Target[], payload: unknown, opts: EncryptOptions = {}): Promise<Envelope> {
  const { message_id, timestamp } = messageIdAndTime(opts);
  const to = targets.find((t) => (t.role ?? 'peer') !== 'audit')?.aid ?? '';
  const aad = { from: sender.aid, from_device: sender.deviceId, to, message_id, timestamp, suite: SUITE, wrap_protocol: wrapProtocol(targets) };
  const { version, suite, t_send, ...rest } = await seal(sender, targets, 'peer', payload, aad, opts);
  return { type: P2P_ENVELOPE_TYPE, version, suite, msg_type: 'original', t_send, t_supplement: null, ...rest };
}

/** A group envelope: one list of member, self-sync and audit targets; no shared group key. */
export async function encryptGroup(
  sender: Sender,
  targets: readonly Target[],
  payload: unknown,
  group: GroupContext,
  opts: EncryptOptions = {},
): Promise<Envelope> {
  const { message_id, timestamp } = messageIdAndTime(opts);
  const group_id = normalizeGroupId(group.groupId);
  const epoch = group.epoch ?? 0;
  const aad = {
    from: sender.aid,
    from_device: sender.deviceId,
    group_id,
    epoch,
    message_id,
    timestamp,
    suite: SUITE,
    wrap_protocol: wrapProtocol(targets),
    state_commitment: normalizeStateCommitment(group.stateCommitment),
  };
  const { version, suite, ...rest } = await seal(sender, targets, 'member', payload, aad, opts);
  return { type: GROUP_ENVELOPE_TYPE, version, suite, msg_type: 'original', group_id, epoch, ...rest };
}

// ---- decryption ----

export type SpkLookup = (spkId: string) => P256PrivateKey | undefined | Promise<P256PrivateKey | undefined>;

export interface DecryptKeys {
  selfAid: string;
  selfDeviceId: string;
  ik: P256PrivateKey;
  /** The SPK private key for a 3DH row, or a lookup by the row's `spk_id` (§4.6). */
  spk?: P256PrivateKey | SpkLookup;
  /** The sender's IK SPKI, from a verified certificate (§4.7). */
  senderIkSpki: Uint8Array;
}

/**
 * Optional [GAP] checks (§6.3), run right after the sender signature so that they judge
 * authenticated AAD values. `replayWindowMs` suits live pushes, not a backlog pulled after days
 * offline. `isSeen` only asks; record the key yourself once the message is accepted.
 */
export interface DecryptChecks {
  expectedFrom?: string;
  /** P2P: our AID; a group envelope (no `aad.to`) then fails too. */
  expectedTo?: string;
  expectedGroupId?: string;
  replayWindowMs?: number;
  now?: number;
  isSeen?: (key: string, aad: Record<string, unknown>) => boolean | Promise<boolean>;
}

export interface Decrypted {
  payload: unknown;
  aad: Record<string, unknown>;
  row: RecipientRow;
  payloadType?: string;
  /** Without `_auth`. */
  protectedHeaders?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

/** The dedupe key the docs name: `{group_id}:{from}:{message_id}` or `{from}:{message_id}`. */
export function dedupeKey(aad: Record<string, unknown>): string {
  const base = `${String(aad.from ?? '')}:${String(aad.message_id ?? '')}`;
  return typeof aad.group_id === 'string' ? `${aad.group_id}:${base}` : base;
}

/** A base64 field's text, checked to decode (decodeBase64Into needs no second check). */
function b64Text(env: Record<string, unknown>, name: string): string {
  const v = env[name];
  if (typeof v !== 'string') throw new E2eeError('malformed', `${name} must be a base64 string`);
  if (!isBase64(v)) throw new E2eeError('malformed', `${name}: invalid base64`, { cause: new TypeError('invalid base64') });
  return v;
}

/** The [GAP] checks; a promise only when `isSeen` gives one, so a message without it awaits nothing. */
function checkGaps(aad: Record<string, unknown>, checks: DecryptChecks): void | Promise<void> {
  const bind = (field: string, want: string, got: unknown): void => {
    if (got !== want) throw new E2eeError('aad_binding', `aad.${field} mismatch: expected=${want} got=${String(got)}`);
  };
  if (checks.expectedFrom !== undefined) bind('from', checks.expectedFrom, aad.from);
  if (checks.expectedTo !== undefined) bind('to', checks.expectedTo, aad.to);
  if (checks.expectedGroupId !== undefined) {
    const got = typeof aad.group_id === 'string' ? normalizeGroupId(aad.group_id) : aad.group_id;
    bind('group_id', normalizeGroupId(checks.expectedGroupId), got);
  }
  if (checks.replayWindowMs !== undefined) {
    const ts = aad.timestamp;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new E2eeError('malformed', 'aad.timestamp must be a number');
    const now = checks.now ?? Date.now();
    if (Math.abs(now - ts) > checks.replayWindowMs) {
      throw new E2eeError('replay', `timestamp outside replay window: timestamp=${ts} now=${now} window_ms=${checks.replayWindowMs}`);
    }
  }
  if (checks.isSeen) {
    const key = dedupeKey(aad);
    const duplicate = (seen: boolean): void => {
      if (seen) throw new E2eeError('duplicate', `duplicate message: ${key}`);
    };
    const seen = checks.isSeen(key, aad);
    if (typeof seen === 'boolean') return duplicate(seen);
    return Promise.resolve(seen).then(duplicate);
  }
}

/** §6.1 step 2: our row, from the full `recipients` list or the per-device `recipient` form. */
function ourRow(env: Record<string, unknown>, digest: string, keys: DecryptKeys): RecipientRow {
  const missing = (): E2eeError =>
    new E2eeError('recipient_missing', `recipient_missing: no row for ${keys.selfAid}/${keys.selfDeviceId}`);
  let row: RecipientRow | undefined;
  if (Array.isArray(env.recipients)) {
    const rows = env.recipients as unknown[];
    if (!rows.every(isRecipientRow)) throw new E2eeError('malformed', 'recipients must be rows of 8 strings');
    const match = rows.length === 0 ? digest === '' : isHexOf(recipientsRoot(rows), digest);
    if (!match) throw new E2eeError('recipients_digest', 'recipients_digest mismatch');
    row = findRow(rows, keys.selfAid, keys.selfDeviceId);
  } else if (isPlainObject(env.recipient)) {
    try {
      row = rowFromRecipient(env.recipient);
    } catch (exc) {
      throw new E2eeError('malformed', describeCause(exc), { cause: exc });
    }
    const proof = env.merkle_proof;
    // A missing proof is accepted for compatibility with older servers, as in the reference.
    if (proof !== undefined && proof !== null && digest && !verifyMerkleProof(row, proof, digest)) {
      throw new E2eeError('recipients_digest', 'recipients_digest mismatch: merkle_proof does not lead to the signed root');
    }
    if (findRow([row], keys.selfAid, keys.selfDeviceId) === undefined) throw missing();
  }
  if (!row) throw missing();
  return row;
}

function rowContext(row: RecipientRow): string {
  return `recipient=${row[0]}/${row[1]}; role=${row[2]}; key_source=${row[3]}; spk_id=${row[5] || '<empty>'}`;
}

/** §6.1 steps 2–4: our row, the wrap salt and the wrap key (1DH or 3DH by the row's spk_id alone). */
async function wrapKeyOf(
  env: Record<string, unknown>,
  aadBytes: Uint8Array,
  digest: string,
  keys: DecryptKeys,
  ephRoom: Uint8Array,
  keyRoom: Uint8Array,
): Promise<{ row: RecipientRow; wrapKey: Uint8Array }> {
  // 2. Our row.
  const row = ourRow(env, digest, keys);

  // 3. Salt, from the top-level suite (not aad.suite), defaulting to the constant.
  const suite = env.suite ?? SUITE;
  if (typeof suite !== 'string') throw new E2eeError('malformed', 'suite must be a string');
  // Decoded into the room the message's buffer keeps for it (sized by the same check).
  const ephSpki = ephRoom.subarray(0, decodeBase64Into(b64Text(env, 'sender_session_pk'), ephRoom));
  let eph: () => Promise<CryptoKey>;
  try {
    eph = ephemeralKey(ephSpki);
  } catch (exc) {
    throw new E2eeError('malformed', `sender_session_pk: ${describeCause(exc)}`, { cause: exc });
  }
  const salt = wrapSalt(aadBytes, ephSpki, suite);

  // 4. Wrap key: a non-empty spk_id means 3DH, and never a silent fallback to 1DH.
  const spkId = row[5];
  let spk: P256PrivateKey | undefined;
  if (spkId) {
    spk = typeof keys.spk === 'function' ? await keys.spk(spkId) : keys.spk;
    if (!spk) throw new E2eeError('spk_missing', `spk_missing: spk_id=${spkId}`);
  }
  const wrapKey = spk
    ? await receiverWrapKey3DH(keys.ik, spk, keys.senderIkSpki, ephSpki, salt, eph, keyRoom)
    : await receiverWrapKey1DH(keys.ik, ephSpki, salt, eph, keyRoom);
  return { row, wrapKey };
}

/** Strict base64 into `room` when it fits there, else into an array of its own. */
function decodeInto(s: string, room: Uint8Array): Uint8Array {
  if (!isBase64(s)) throw new TypeError('invalid base64');
  return base64Length(s) <= room.length ? room.subarray(0, decodeBase64Into(s, room)) : fromBase64(s);
}

/**
 * §6.1 step 5: the master key from our row's wrap (empty AAD). The wrap's nonce and key are
 * decoded into `room` when they fit; the wrap key, in the message's buffer, is wiped once
 * WebCrypto has its copy (when the import is called).
 */
async function unwrapRow(row: RecipientRow, wrapKey: Uint8Array, room: Uint8Array): Promise<{ row: RecipientRow; masterKey: Uint8Array }> {
  let wrapNonce: Uint8Array;
  let wrapped: Uint8Array;
  let unwrapping: Promise<Uint8Array>;
  try {
    try {
      wrapNonce = decodeInto(row[6], room.subarray(0, NONCE_LENGTH));
      wrapped = decodeInto(row[7], room.subarray(NONCE_LENGTH));
    } catch (exc) {
      throw new E2eeError('malformed', `recipient row: ${describeCause(exc)}`, { cause: exc });
    }
    if (wrapped.length < 16) throw new E2eeError('malformed', `wrapped_key too short: ${wrapped.length}`);
    try {
      unwrapping = unwrapMasterKey(wrapKey, wrapNonce, wrapped);
    } catch (exc) {
      unwrapping = Promise.reject(exc);
    }
  } finally {
    wrapKey.fill(0);
  }
  try {
    return { row, masterKey: await unwrapping };
  } catch (exc) {
    throw new E2eeError(
      'wrap_key_decrypt_failed',
      `wrap_key_decrypt_failed: ${rowContext(row)}; master_key unwrap failed: wrong local IK/SPK, stale sender ` +
        `bootstrap or tampered wrap; cause=${describeCause(exc)}`,
      { cause: exc },
    );
  }
}

/**
 * Decrypts one envelope addressed to us. Order (§6.1): sender signature, [GAP] checks, our row and
 * the digest, wrap salt, wrap key (1DH or 3DH by the row's spk_id alone), unwrap, metadata HMACs,
 * body, JSON. Every rejection is an E2eeError; `recipient_missing` is the case the reference drops
 * silently (it returns null), so callers should not surface it as an undecryptable message.
 */
export async function decryptEnvelope(envelope: unknown, keys: DecryptKeys, checks: DecryptChecks = {}): Promise<Decrypted> {
  if (!isPlainObject(envelope)) throw new E2eeError('malformed', 'envelope must be an object');
  const env = envelope;

  // 1. Sender signature over ct ‖ tag ‖ canonical(aad) ‖ digest.
  const signatureText = b64Text(env, 'sender_signature');
  const ciphertextText = b64Text(env, 'ciphertext');
  const tagText = b64Text(env, 'tag');
  if (!isPlainObject(env.aad)) throw new E2eeError('malformed', 'aad must be an object');
  const aad = env.aad;
  const aadText = canonicalText(aad, 'aad');
  const digest = env.recipients_digest;
  if (typeof digest !== 'string') throw new E2eeError('malformed', 'recipients_digest must be a string');
  // The signed bytes, decoded and encoded in place into one buffer: the body's AES reads
  // ct ‖ tag from its head and the wrap salt the AAD from its middle, with no copy. Behind them
  // the signature, and room for the ephemeral key and the body nonce when their fields are base64
  // (checked again, in their place, when they are read): arrays of their own would each be an
  // ArrayBuffer of its own in a worker.
  const room = (name: string): number => {
    const v = env[name];
    return typeof v === 'string' && isBase64(v) ? base64Length(v) : 0;
  };
  const ephLength = room('sender_session_pk');
  const nonceLength = room('nonce');
  const input = takeBuffer(
    base64Length(ciphertextText) + base64Length(tagText) + utf8Bound(aadText) + (digest.length >> 1) + base64Length(signatureText) + ephLength + nonceLength + WRAP_ROOM,
  );
  let end = decodeBase64Into(ciphertextText, input);
  const ciphertext = input.subarray(0, end);
  const tag = input.subarray(end, (end += decodeBase64Into(tagText, input.subarray(end))));
  const aadBytes = input.subarray(end, (end += utf8Into(aadText, input.subarray(end))));
  try {
    end += hexInto(digest, input.subarray(end));
  } catch (exc) {
    throw new E2eeError('malformed', `recipients_digest: ${describeCause(exc)}`, { cause: exc });
  }
  const signed = input.subarray(0, end);
  const signature = input.subarray(end, (end += decodeBase64Into(signatureText, input.subarray(end))));
  const verified = verifyRaw(keys.senderIkSpki, signed, signature);
  const ephRoom = input.subarray(end, (end += ephLength));
  const nonceRoom = input.subarray(end, (end += nonceLength));
  const keyRoom = input.subarray(end, (end += MASTER_KEY_LENGTH));
  const wrapRoom = input.subarray(end, end + WRAP_ROOM - MASTER_KEY_LENGTH);
  // Steps 2–5 and the body's AES do not depend on the signature's outcome, so they start without
  // waiting for it (they overlap it where WebCrypto works on a thread of its own, as Firefox's does;
  // Chromium's runs each call on the calling thread, back to back); each result, or error, is taken
  // only in the order §6.1 gives: after the signature and the [GAP] checks, the body only after
  // the metadata HMACs.
  const unwrapped = wrapKeyOf(env, aadBytes, digest, keys, ephRoom, keyRoom).then(({ row, wrapKey }) => unwrapRow(row, wrapKey, wrapRoom));
  const opened = unwrapped.then(({ masterKey }) => {
    const nonce = nonceRoom.subarray(0, decodeBase64Into(b64Text(env, 'nonce'), nonceRoom));
    return aesGcmDecrypt(masterKey, nonce, ciphertext, tag, aadBytes);
  });
  opened.catch(() => undefined);
  if (!(await verified)) throw new E2eeError('sender_signature', 'sender_signature verification failed');

  const gaps = checkGaps(aad, checks);
  if (gaps) await gaps;

  // 2–5. Our row, the wrap key and the master key (empty AAD).
  const { row, masterKey } = await unwrapped;

  // 7. Metadata HMACs, before the body.
  const protectedHeaders = verifyMetadataAuth(masterKey, 'protected_headers', env.protected_headers);
  const context = verifyMetadataAuth(masterKey, 'context', env.context);

  // 8. Body: a malformed nonce fails here, in its place, before the AES result is looked at.
  b64Text(env, 'nonce');
  let plaintext: Uint8Array;
  try {
    plaintext = await opened;
  } catch (exc) {
    const where =
      `message_id=${String(aad.message_id ?? '')}; group_id=${String(aad.group_id ?? '') || '<p2p>'}; ` +
      `from=${String(aad.from ?? '')}; from_device=${String(aad.from_device ?? '')}; ${rowContext(row)}`;
    throw new E2eeError(
      'body_decrypt_failed',
      `body_decrypt_failed: ${where}; body AEAD failed after unwrap: AAD, nonce, ciphertext or tag altered; cause=${describeCause(exc)}`,
      { cause: exc },
    );
  }

  // Everything that reads the signed bytes has settled.
  giveBack(input);

  // 9. Payload.
  let payload: unknown;
  try {
    payload = JSON.parse(fromUtf8(plaintext));
  } catch (exc) {
    throw new E2eeError('malformed', `payload is not JSON: ${describeCause(exc)}`, { cause: exc });
  }
  const result: Decrypted = { payload, aad, row };
  if (typeof env.payload_type === 'string') result.payloadType = env.payload_type;
  if (protectedHeaders) result.protectedHeaders = protectedHeaders;
  if (context) result.context = context;
  return result;
}
