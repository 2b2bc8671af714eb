// The per-file conformance check (spec/e2ee-v2.md §7), pure: no file system, so the same code runs
// under Node (vectors.ts, run.ts, vectors.test.ts) and inside a browser worker
// (tests/conformance/browser/, tests/e2e/conformance-browser.test.ts). Each file is judged by the
// folder it sits in; a handler throws to fail, and `checkVector` turns that into a reason.

import {
  findRow,
  isRecipientRow,
  merkleProof,
  recipientsDigest,
  rowFromRecipient,
  sortRows,
  verifyMerkleProof,
  type RecipientRow,
} from '../../protocol/recipients.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  canonicalJson,
  canonicalJsonText,
  computeStateCommitment,
  concatBytes,
  decryptEnvelope,
  E2eeError,
  ecdh,
  equalBytes,
  fpMatches,
  fromBase64,
  fromHex,
  generatePrivateKey,
  hkdfSha256,
  importPrivateKey,
  isPlainObject,
  pemToDer,
  privateKeyFromScalar,
  scalarFromPkcs8,
  senderWrapKey1DH,
  senderWrapKey3DH,
  signRaw,
  spkiFromCertificate,
  spkiFromPoint,
  toBase64,
  toHex,
  utf8,
  verifyRaw,
  type P256PrivateKey,
} from '../../worker/e2ee/index.ts';

/** One vector file as read from disk: `json` is its text, unparsed (see parseVector). */
export interface VectorFile {
  /** The parent folder's name, which picks the handler: `canonical`, `envelope`, … */
  folder: string;
  /** A label for reports, e.g. the path relative to the vector directory. */
  name: string;
  json: string;
}

export interface VectorResult {
  name: string;
  ok: boolean;
  /** Why the file fails; absent when it passes. */
  reason?: string;
  /** Sub-checks that passed, in order (envelope files: each decryption, then each tamper case). */
  checks: string[];
}

/** The tamper cases every envelope file gets once it decrypts (§7.3), both rejected at the signature. */
export const TAMPER_CASES = ['flipped ciphertext byte 0', 'wrong sender key'] as const;

type Vector = Record<string, unknown>;

/**
 * Parses a vector file. The JS copy of canonical/string_escape_control.json holds a raw 0x01 byte
 * inside a string (invalid JSON), so raw control bytes other than \n \r \t are escaped first, as
 * the reference's loader does (§7.2 gotcha).
 */
export function parseVector(text: string): Vector {
  const raw = text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const v = JSON.parse(raw) as unknown;
  if (!isPlainObject(v)) throw new Error('vector is not a JSON object');
  return v;
}

function fail(message: string): never {
  throw new Error(message);
}

function expectEqualBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  if (!equalBytes(got, want)) fail(`${what}: got ${toHex(got)}, want ${toHex(want)}`);
}

/** Bytes of the first present field; the suffix says the encoding (`_b64`, `_hex`, else UTF-8). */
function bytesField(v: Vector, names: readonly string[], fallback?: Uint8Array): Uint8Array {
  for (const name of names) {
    const value = v[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') fail(`${name} must be a string`);
    if (name.endsWith('_b64')) return fromBase64(value);
    if (name.endsWith('_hex')) return fromHex(value);
    return utf8(value);
  }
  if (fallback) return fallback;
  return fail(`missing field: one of ${names.join(', ')}`);
}

function firstFieldEndingWith(v: Vector, suffix: string): string {
  const name = Object.keys(v).find((k) => k.endsWith(suffix));
  return name ?? fail(`missing field ending ${suffix}`);
}

/** A private key as the vectors write it: a 32-byte scalar, PKCS#8 DER, or PEM. */
function privateKeyOf(bytes: Uint8Array): P256PrivateKey {
  return privateKeyFromScalar(bytes.length <= 33 ? bytes : scalarFromPkcs8(bytes));
}

/** A public key: SPKI DER, a raw 65-byte point, or a certificate. */
function publicSpkiOf(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 91) return bytes;
  if (bytes.length === 65) return spkiFromPoint(bytes);
  return spkiFromCertificate(bytes);
}

function decodeKeyText(name: string, value: string): Uint8Array {
  if (value.startsWith('-----BEGIN') || name.endsWith('_pem')) return pemToDer(value);
  return name.endsWith('_hex') ? fromHex(value) : fromBase64(value);
}

// ---- primitive folders ----

async function canonicalVector(v: Vector): Promise<void> {
  if (!('input' in v)) fail('missing field: input');
  expectEqualBytes('canonical_json', canonicalJson(v.input), bytesField(v, ['expected_output_b64', 'expected_output_hex']));
}

async function hkdfVector(v: Vector): Promise<void> {
  const ikm = bytesField(v, ['ikm_b64', 'ikm_hex']);
  const salt = bytesField(v, ['salt_b64', 'salt_hex'], new Uint8Array(0));
  const info = bytesField(v, ['info', 'info_b64', 'info_hex'], new Uint8Array(0));
  const length = typeof v.length === 'number' ? v.length : 32;
  expectEqualBytes('okm', hkdfSha256(ikm, salt, info, length), bytesField(v, ['expected_okm_b64', 'expected_okm_hex']));
}

async function aeadVector(v: Vector): Promise<void> {
  const key = bytesField(v, ['key_b64', 'key_hex', 'wrap_key_b64', 'wrap_key_hex']);
  const nonce = bytesField(v, ['nonce_b64', 'nonce_hex', 'wrap_nonce_b64', 'wrap_nonce_hex']);
  const plaintext = bytesField(v, ['plaintext_b64', 'plaintext_hex', 'master_key_b64', 'master_key_hex']);
  const aad = bytesField(v, ['aad_b64', 'aad_hex'], new Uint8Array(0));
  const { ciphertext, tag } = await aesGcmEncrypt(key, nonce, plaintext, aad);
  if ('expected_wrapped_key_b64' in v || 'expected_wrapped_key_hex' in v) {
    const want = bytesField(v, ['expected_wrapped_key_b64', 'expected_wrapped_key_hex']);
    expectEqualBytes('wrapped_key', concatBytes(ciphertext, tag), want);
  } else {
    expectEqualBytes('ciphertext', ciphertext, bytesField(v, ['expected_ciphertext_b64', 'expected_ciphertext_hex']));
    expectEqualBytes('tag', tag, bytesField(v, ['expected_tag_b64', 'expected_tag_hex']));
  }
  expectEqualBytes('round trip', await aesGcmDecrypt(key, nonce, ciphertext, tag, aad), plaintext);
}

/** Both key forms: WebCrypto handles and the pure-noble scalar path must agree with the vector. */
async function bothKeyForms(scalar: Uint8Array): Promise<P256PrivateKey[]> {
  return [privateKeyFromScalar(scalar), await importPrivateKey(scalar, { keepScalar: false })];
}

async function ecdhVector(v: Vector): Promise<void> {
  const scalar = bytesField(v, [firstFieldEndingWith(v, '_priv_b64')]);
  const pub = bytesField(v, [firstFieldEndingWith(v, '_pub_der_b64')]);
  const want = bytesField(v, ['expected_shared_b64', 'expected_shared_hex']);
  for (const key of await bothKeyForms(scalar)) expectEqualBytes('shared secret', await ecdh(key, pub), want);
}

async function ecdsaVector(v: Vector): Promise<void> {
  const key = privateKeyOf(bytesField(v, ['private_key_b64', 'private_key_hex']));
  const pub = publicSpkiOf(bytesField(v, ['public_key_der_b64', 'public_key_b64', 'public_key_hex']));
  const message = bytesField(v, ['message_b64', 'message_hex']);
  const want = bytesField(v, ['expected_signature_b64', 'expected_signature_hex']);
  expectEqualBytes('public key of private_key', key.publicSpki, pub);
  const ours = await signRaw(key, message);
  expectEqualBytes('RFC 6979 signature', ours, want);
  if (!(await verifyRaw(pub, message, ours))) fail('our signature does not verify');
  if (!(await verifyRaw(pub, message, want))) fail('expected signature does not verify');
}

async function oneDhVector(v: Vector): Promise<void> {
  const ikPub = bytesField(v, ['recv_ik_pub_der_b64']);
  const salt = bytesField(v, ['salt_b64', 'salt_hex']);
  const want = bytesField(v, ['expected_wrap_key_b64', 'expected_wrap_key_hex']);
  for (const eph of await bothKeyForms(bytesField(v, ['sender_session_priv_b64']))) {
    expectEqualBytes('1DH wrap key', await senderWrapKey1DH(eph, ikPub, salt), want);
  }
}

async function threeDhVector(v: Vector): Promise<void> {
  const ikPub = bytesField(v, ['recv_ik_pub_der_b64']);
  const spkPub = bytesField(v, ['recv_spk_pub_der_b64']);
  const salt = bytesField(v, ['salt_b64', 'salt_hex']);
  const want = bytesField(v, ['expected_wrap_key_b64', 'expected_wrap_key_hex']);
  const ephs = await bothKeyForms(bytesField(v, ['sender_session_priv_b64']));
  const masters = await bothKeyForms(bytesField(v, ['sender_master_priv_b64']));
  for (let i = 0; i < 2; i++) {
    expectEqualBytes('3DH wrap key', await senderWrapKey3DH(ephs[i]!, masters[i]!, ikPub, spkPub, salt), want);
  }
}

function rowsField(v: Vector, name: string): RecipientRow[] {
  const rows = v[name];
  if (!Array.isArray(rows) || !rows.every(isRecipientRow)) fail(`${name} must be a list of 8-string rows`);
  return rows;
}

/**
 * Proofs, when a file carries them, are accepted as a list aligned with the sorted rows or as
 * `{index|row_index, proof}` objects; each must equal ours and verify.
 */
function checkProofs(v: Vector, sorted: RecipientRow[], digest: string): void {
  for (const [name, value] of Object.entries(v)) {
    if (!/proof/i.test(name)) continue;
    if (!Array.isArray(value)) fail(`${name}: unrecognised proof layout`);
    value.forEach((entry: unknown, i) => {
      const [index, proof] = isPlainObject(entry) ? [Number(entry.index ?? entry.row_index), entry.proof] : [i, entry];
      const row = sorted[index] ?? fail(`${name}[${i}]: no row ${index}`);
      if (canonicalJsonText(proof) !== canonicalJsonText(merkleProof(sorted, index))) fail(`${name}[${i}]: proof differs`);
      if (!verifyMerkleProof(row, proof, digest)) fail(`${name}[${i}]: proof does not verify`);
    });
  }
}

async function recipientsDigestVector(v: Vector): Promise<void> {
  const sorted = sortRows(rowsField(v, 'input_rows'));
  if ('expected_sorted_rows' in v && canonicalJsonText(sorted) !== canonicalJsonText(rowsField(v, 'expected_sorted_rows'))) {
    fail(`sorted rows differ: ${canonicalJsonText(sorted)}`);
  }
  const want = v.expected_digest_hex;
  if (typeof want !== 'string') fail('missing field: expected_digest_hex');
  const digest = recipientsDigest(sorted);
  if (digest !== want) fail(`digest: got "${digest}", want "${want}"`);
  checkProofs(v, sorted, digest);
  sorted.forEach((row, i) => {
    if (!verifyMerkleProof(row, merkleProof(sorted, i), digest)) fail(`our proof for row ${i} does not verify`);
  });
}

async function stateCommitmentVector(v: Vector): Promise<void> {
  if (typeof v.group_id !== 'string' || typeof v.epoch !== 'number') fail('missing group_id or epoch');
  const got = computeStateCommitment(v.group_id, v.epoch, v.state_payload);
  if (got !== v.expected_commitment_hex) fail(`commitment: got ${got}, want ${String(v.expected_commitment_hex)}`);
}

// ---- envelope folder ----
//
// The reference's envelope files are held back, so their exact field names are unknown. Accepted:
// - the envelope under `envelope` (object) or `envelope_json` (string);
// - the expected payload under `expected_payload`, `payload`, `plaintext`, `expected_plaintext`
//   (object or JSON text) or the same names with `_b64` (canonical JSON bytes), else any other
//   field whose name contains "payload" or "plaintext";
// - who decrypts: `recipient_aid`/`self_aid` with `recipient_device_id`/`self_device_id` when
//   given, else every (aid, device_id) of the rows for which a private key is in the file;
// - keys anywhere outside the envelope, nested objects and lists included: a private key is any
//   string field whose name contains "priv" (`*_ik_priv_b64`, `*_spk_priv_b64`, `*_priv_hex`,
//   `*_pem`; scalar, PKCS#8 or PEM); a public key is a field whose name contains "pub" or ends
//   `_pk_b64`/`_pk_hex`/`_pk_pem` (SPKI, raw point or certificate). Only names ending `_b64`,
//   `_hex`, `_pem`, or PEM text, count as keys. A row's IK is the private key whose public
//   fp equals the row's fp; its SPK is whichever private key unwraps. The sender's key is a
//   `sender…pub…`/`sender…pk…` field, else the public key whose fp matches
//   `sender_cert_fingerprint`.
// Then the two tamper cases of TAMPER_CASES (§7.3): ciphertext byte 0 flipped, and a wrong sender
// key, must both fail with reason `sender_signature`.

interface NamedKey<K> {
  name: string;
  key: K;
}

function collectKeys(value: unknown, privs: NamedKey<P256PrivateKey>[], pubs: NamedKey<Uint8Array>[], name = ''): void {
  if (Array.isArray(value)) value.forEach((x, i) => collectKeys(x, privs, pubs, `${name}[${i}]`));
  else if (isPlainObject(value)) {
    for (const [k, x] of Object.entries(value)) {
      if (k === 'envelope' || k === 'envelope_json') continue;
      collectKeys(x, privs, pubs, k);
    }
  } else if (typeof value === 'string') {
    const leaf = name.replace(/\[\d+\]$/, '');
    const encoded = /_(b64|hex|pem)$/i.test(leaf) || value.startsWith('-----BEGIN');
    try {
      if (encoded && /priv/i.test(leaf)) privs.push({ name, key: privateKeyOf(decodeKeyText(leaf, value)) });
      else if (encoded && /pub|_pk_(b64|hex|pem)$/i.test(leaf)) pubs.push({ name, key: publicSpkiOf(decodeKeyText(leaf, value)) });
    } catch (exc) {
      fail(`${name}: not a usable P-256 key (${(exc as Error).message})`);
    }
  }
}

function envelopeOf(v: Vector): Record<string, unknown> {
  const env = typeof v.envelope_json === 'string' ? (JSON.parse(v.envelope_json) as unknown) : v.envelope;
  if (!isPlainObject(env)) fail('missing envelope / envelope_json');
  return env;
}

function expectedPayloadText(v: Vector): string {
  const preferred = ['expected_payload', 'expected_plaintext', 'payload', 'plaintext'];
  const names = [...preferred, ...preferred.map((n) => `${n}_b64`)];
  const name = names.find((n) => n in v) ?? Object.keys(v).find((k) => /payload|plaintext/i.test(k));
  if (!name) fail('missing expected payload field');
  const value = v[name];
  if (name.endsWith('_b64') && typeof value === 'string') return canonicalJsonText(JSON.parse(new TextDecoder().decode(fromBase64(value))));
  if (typeof value === 'string') {
    try {
      return canonicalJsonText(JSON.parse(value));
    } catch {
      return canonicalJsonText(value);
    }
  }
  return canonicalJsonText(value);
}

function stringField(v: Vector, names: readonly string[]): string | undefined {
  for (const n of names) if (typeof v[n] === 'string') return v[n];
  return undefined;
}

async function envelopeVector(v: Vector, passed: (check: string) => void): Promise<void> {
  const env = envelopeOf(v);
  const privs: NamedKey<P256PrivateKey>[] = [];
  const pubs: NamedKey<Uint8Array>[] = [];
  collectKeys(v, privs, pubs);
  const senderFp = typeof env.sender_cert_fingerprint === 'string' ? env.sender_cert_fingerprint : '';
  const senderIkSpki =
    pubs.find((p) => /^sender.*(pub|pk)/i.test(p.name) && !/session/i.test(p.name))?.key ??
    [...pubs.map((p) => p.key), ...privs.map((p) => p.key.publicSpki)].find((k) => senderFp && fpMatches(k, senderFp)) ??
    fail('no sender public key (by name or by sender_cert_fingerprint)');
  const want = expectedPayloadText(v);

  const rows: RecipientRow[] = Array.isArray(env.recipients)
    ? rowsField(env, 'recipients')
    : isPlainObject(env.recipient)
      ? [rowFromRecipient(env.recipient)]
      : fail('envelope has neither recipients nor recipient');
  const selfAid = stringField(v, ['recipient_aid', 'self_aid']);
  const selfDevice = stringField(v, ['recipient_device_id', 'self_device_id']);
  const identities: [string, string][] =
    selfAid !== undefined ? [[selfAid, selfDevice ?? '']] : [...new Map(rows.map((r) => [`${r[0]}\u0000${r[1]}`, [r[0], r[1]] as [string, string]])).values()];

  let decrypted = 0;
  let reference: Parameters<typeof decryptEnvelope>[1] | undefined;
  for (const [aid, device] of identities) {
    const row = findRow(rows, aid, device) ?? fail(`no row for ${aid}/${device}`);
    const byFp = privs.filter((p) => fpMatches(p.key.publicSpki, row[4]));
    const iks = byFp.length ? byFp : selfAid !== undefined ? privs : [];
    if (iks.length === 0) continue;
    const spks: (P256PrivateKey | undefined)[] = row[5] ? privs.map((p) => p.key) : [undefined];
    let lastError: unknown;
    let done = false;
    for (const ik of iks) {
      for (const spk of spks) {
        const keys = { selfAid: aid, selfDeviceId: device, ik: ik.key, senderIkSpki, ...(spk ? { spk } : {}) };
        try {
          const got = canonicalJsonText((await decryptEnvelope(env, keys)).payload);
          if (got !== want) fail(`${aid}/${device}: payload ${got}, want ${want}`);
          reference ??= keys;
          done = true;
          break;
        } catch (exc) {
          if (!(exc instanceof E2eeError)) throw exc;
          lastError = exc;
        }
      }
      if (done) break;
    }
    if (!done) fail(`${aid}/${device}: ${(lastError as Error).message}`);
    passed(`decrypts as ${aid}/${device}`);
    decrypted++;
  }
  if (!reference || decrypted === 0) fail('no recipient could decrypt (no matching private key in the file)');

  const flipped = fromBase64(env.ciphertext as string);
  if (flipped.length === 0) fail('empty ciphertext');
  flipped[0]! ^= 0x01;
  await expectRejected(TAMPER_CASES[0], { ...env, ciphertext: toBase64(flipped) }, reference);
  passed(`tamper: ${TAMPER_CASES[0]}`);
  const stranger = await generatePrivateKey();
  await expectRejected(TAMPER_CASES[1], env, { ...reference, senderIkSpki: stranger.publicSpki });
  passed(`tamper: ${TAMPER_CASES[1]}`);
}

async function expectRejected(what: string, env: unknown, keys: Parameters<typeof decryptEnvelope>[1]): Promise<void> {
  try {
    await decryptEnvelope(env, keys);
  } catch (exc) {
    if (exc instanceof E2eeError && exc.reason === 'sender_signature' && /sender_signature/.test(exc.message)) return;
    fail(`${what}: wrong rejection: ${(exc as Error).message}`);
  }
  fail(`${what}: decrypted anyway`);
}

const HANDLERS: Record<string, (v: Vector, passed: (check: string) => void) => Promise<void>> = {
  canonical: canonicalVector,
  hkdf: hkdfVector,
  aead: aeadVector,
  ecdh: ecdhVector,
  ecdsa: ecdsaVector,
  '1dh': oneDhVector,
  '3dh': threeDhVector,
  recipients_digest: recipientsDigestVector,
  state_commitment: stateCommitmentVector,
  envelope: envelopeVector,
};

/** Runs one vector file; never throws: a failure comes back as `ok: false` with its reason. */
export async function checkVector(file: VectorFile): Promise<VectorResult> {
  const checks: string[] = [];
  try {
    const handler = HANDLERS[file.folder] ?? fail(`unknown vector folder "${file.folder}"`);
    await handler(parseVector(file.json), (check) => checks.push(check));
    return { name: file.name, ok: true, checks };
  } catch (exc) {
    return { name: file.name, ok: false, reason: exc instanceof Error ? exc.message : String(exc), checks };
  }
}
