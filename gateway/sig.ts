// Signature checks the gateway makes: DER (or raw r‖s) ECDSA-SHA256 by an agent's key, and the
// client_signature of spec §10.2.

import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { stableJson } from '../protocol/canonical.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { RpcError, type AgentRecord } from './context.ts';
import { certFingerprint, certSpki } from './pki.ts';

const P256_RAW_SIGNATURE_BYTES = 64;

/**
 * Every signed call of an agent checks the same key and certificate: their parsed forms are kept
 * by their text, the oldest dropped past CACHE_MAX. Parsing the certificate (X.509, for its SPKI
 * fingerprint) and the key on each call cost more than the signature check itself.
 */
const CACHE_MAX = 1024;
/** base64 of a P-256 SPKI (91 bytes): a longer text is parsed (it may be refused) but not kept. */
const SPKI_B64_MAX = 124;
const keys = new Map<string, KeyObject>();
const certHexes = new Map<string, readonly string[]>();

function remembered<V>(cache: Map<string, V>, key: string, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, value);
  }
  return value;
}

export function publicKeyFromSpki(spkiB64: string): KeyObject {
  const parse = () => createPublicKey({ key: Buffer.from(spkiB64, 'base64'), format: 'der', type: 'spki' });
  return spkiB64.length > SPKI_B64_MAX ? parse() : remembered(keys, spkiB64, parse);
}

/** Verifies ECDSA-SHA256; accepts the DER form every SDK sends and the raw r‖s form. */
export function verifyEcdsa(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const dsaEncoding = signature.length === P256_RAW_SIGNATURE_BYTES && signature[0] !== 0x30 ? 'ieee-p1363' : 'der';
  try {
    return verify('sha256', data, { key, dsaEncoding }, signature);
  } catch {
    return false;
  }
}

export function signDer(key: KeyObject, data: Uint8Array): string {
  return sign('sha256', data, { key, dsaEncoding: 'der' }).toString('base64');
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The params a client_signature covers: everything but the signature and `_`-prefixed keys. */
export function paramsForHash(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'client_signature' || k.startsWith('_')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Whether a claimed fingerprint names this certificate: SHA-256 of the certificate DER or of its
 * SPKI, as the full 64 hex or the first 16 (spec §4.3), with or without the "sha256:" prefix.
 */
export function fingerprintMatches(claimed: string, certPem: string): boolean {
  const hex = claimed.toLowerCase().replace(/^sha256:/, '');
  if (!/^[0-9a-f]{16}([0-9a-f]{48})?$/.test(hex)) return false;
  const full = remembered(certHexes, certPem, () => [certFingerprint(certPem).slice('sha256:'.length), sha256Hex(certSpki(certPem))]);
  return full.some((f) => f.startsWith(hex));
}

function reject(message: string): never {
  throw new RpcError(ErrorCode.ClientSignatureInvalid, `client_signature verification failed: ${message}`);
}

/** Throws -32051 unless `params.client_signature` is a valid signature of this call by `agent`. */
export function verifyClientSignature(
  method: string,
  params: Record<string, unknown>,
  agent: AgentRecord,
  nowSeconds: number,
  skewSeconds: number,
): void {
  const cs = params.client_signature as Record<string, unknown> | null;
  if (typeof cs !== 'object' || cs === null || Array.isArray(cs)) reject('not an object');
  const { aid, cert_fingerprint, timestamp, params_hash, signature } = cs;
  if (typeof aid !== 'string' || typeof cert_fingerprint !== 'string' || typeof timestamp !== 'string'
    || typeof params_hash !== 'string' || typeof signature !== 'string') {
    reject('aid, cert_fingerprint, timestamp, params_hash and signature must be strings');
  }
  if (aid !== agent.aid) reject(`aid ${aid} is not the connection's aid ${agent.aid}`);
  if (!fingerprintMatches(cert_fingerprint, agent.certPem) && !agent.formerCertPems?.some((pem) => fingerprintMatches(cert_fingerprint, pem))) {
    reject('cert_fingerprint does not match the registered certificate');
  }
  const ts = Number(timestamp);
  if (!Number.isFinite(ts) || Math.abs(nowSeconds - ts) > skewSeconds) reject(`timestamp ${timestamp} outside the ${skewSeconds}s window`);
  const expectedHash = sha256Hex(stableJson(paramsForHash(params)));
  if (params_hash.toLowerCase() !== expectedHash) reject('params_hash does not match the params');
  const signed = Buffer.from(`${method}|${aid}|${timestamp}|${params_hash}`, 'utf8');
  if (!verifyEcdsa(publicKeyFromSpki(agent.publicKey), signed, Buffer.from(signature, 'base64'))) reject('bad signature');
}
