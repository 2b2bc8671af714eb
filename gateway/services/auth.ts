// Identity and credentials (spec §3.2, §3.3, §4.2, §4.5): agents, their devices, the two-phase
// login and token grants. These methods travel on short pre-auth sockets.

import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import type Database from 'better-sqlite3';
import { P256_SPKI_LENGTH } from '../../protocol/bytes.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { type CertIssuedResult, type CreateAidResult, type MethodName, type ParamsOf, type ResultOf } from '../../protocol/methods.ts';
import { RpcError, type AgentRecord, type Connection } from '../context.ts';
import { migrate } from '../db.ts';
import { certFingerprint, certSpki, type Pki } from '../pki.ts';
import { publicKeyFromSpki, signDer, verifyEcdsa } from '../sig.ts';
import type { TokenService } from '../tokens.ts';
import { AID_PATTERN, str } from '../validate.ts';

const MIGRATIONS = [
  `CREATE TABLE agents (
     aid TEXT PRIMARY KEY,
     cert_pem TEXT NOT NULL,
     public_key TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE devices (
     aid TEXT NOT NULL REFERENCES agents(aid),
     device_id TEXT NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL,
     PRIMARY KEY (aid, device_id)
   )`,
  // Certificates a renewal or a rekey replaced: their serials stay known to /pki/ocsp and to the
  // admin revoke (a renewed one is still good until it expires; a rekeyed one is revoked).
  `CREATE TABLE superseded_certs (
     serial TEXT PRIMARY KEY,
     aid TEXT NOT NULL,
     cert_pem TEXT NOT NULL,
     superseded_at INTEGER NOT NULL
   )`,
];

const LOGIN_NONCE_TTL_MS = 60_000;
/** Login nonces handed out and not used or expired yet, at most (anyone may ask for one). */
export const MAX_PENDING_LOGINS = 10_000;
/**
 * client_time is signed, not checked against the clock (spec §3.3, §13.3: used verbatim): the
 * login's freshness is the server nonce, single use and 60 s. SDKs send seconds, e.g.
 * "1735689550" or "1735689550.123456"; anything longer than this is not a time.
 */
const MAX_CLIENT_TIME_CHARS = 32;
/** Far above any agent certificate's PEM (about 1 KB): a longer `cert` is not one of ours. */
const MAX_CERT_CHARS = 16_384;

type PreAuthMethod = 'auth.create_aid' | 'auth.aid_login1' | 'auth.aid_login2' | 'auth.refresh_token' | 'auth.renew_cert' | 'auth.rekey';
export type PreAuthHandlers = { [M in PreAuthMethod]: (params: ParamsOf<M>, conn: Connection) => Promise<ResultOf<M>> | ResultOf<M> };

interface PendingLogin { aid: string; nonce: string; expiresAt: number; /** The certificate login1 was shown, if any. */ cert?: string }

/** How certificates are issued and revoked (gateway/server.ts; the group service uses the same). */
export interface CertificateHooks {
  isRevoked(serial: string): boolean;
  /** A P-256 certificate `CN=<aid>` under the issuer CA, known to OCSP from now on; PEM and serial hex. */
  issue(aid: string, spkiDer: Uint8Array): Promise<{ pem: string; serial: string }>;
  /** Revokes a certificate this gateway issued (the one a rekey replaced). */
  revoke(serial: string): void;
}

export interface AuthService {
  handlers: PreAuthHandlers;
  agent(aid: string): AgentRecord | null;
  /** Throws CertificateRevoked (-32050) when the AID's certificate was revoked. */
  requireUnrevoked(a: AgentRecord): void;
  knownDevices(aid: string): string[];
  /** Whether the device ever connected (long) for this AID, and how many did. */
  deviceKnown(aid: string, deviceId: string): boolean;
  deviceCount(aid: string): number;
  /** Records that a device connected; true the first time it is seen. */
  touchDevice(aid: string, deviceId: string, now: number): boolean;
  /** Counters for /admin/stats. */
  counts: { logins: number; refreshes: number };
  /**
   * The AID's certificates: the current one, then (read only if asked for) those a renewal or a
   * rekey replaced, newest first. Nothing when the AID is not registered.
   */
  certsOf(aid: string): Iterable<string>;
}

const PRE_AUTH: ReadonlySet<string> = new Set<PreAuthMethod>(['auth.create_aid', 'auth.aid_login1', 'auth.aid_login2', 'auth.refresh_token', 'auth.renew_cert', 'auth.rekey']);

export function isPreAuthMethod(name: MethodName): name is PreAuthMethod {
  return PRE_AUTH.has(name);
}

function normalizePem(pem: string): string {
  return pem.replace(/\r/g, '').trim();
}

/** The DER of a base64 P-256 SubjectPublicKeyInfo, or InvalidParams naming `field`. */
function p256Spki(b64: string, field: string): Buffer {
  const spki = Buffer.from(b64, 'base64');
  if (spki.length !== P256_SPKI_LENGTH) throw new RpcError(ErrorCode.InvalidParams, `${field} must be a P-256 SubjectPublicKeyInfo (91 bytes DER, base64)`);
  try {
    publicKeyFromSpki(b64);
  } catch {
    throw new RpcError(ErrorCode.InvalidParams, `${field} is not a valid P-256 key`);
  }
  return spki;
}

/** Whether the certificate has lived half its validity at `t` (ms): the login renews it then. */
function pastHalfLife(certPem: string, t: number): boolean {
  const c = new X509Certificate(certPem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return t >= from + (to - from) / 2;
}

/** Whether `certPem` is a certificate of the AID's registered key (any of its certificates). */
function sameKey(certPem: string, a: AgentRecord): boolean {
  if (normalizePem(certPem) === normalizePem(a.certPem)) return true;
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) return false;
  try {
    return certSpki(certPem).toString('base64') === a.publicKey;
  } catch {
    return false;
  }
}

export function createAuthService(
  db: Database.Database,
  pki: Pki,
  tokens: TokenService,
  issuer: string,
  now: () => number,
  certs: CertificateHooks,
): AuthService {
  const isRevoked = (serial: string) => certs.isRevoked(serial);
  migrate(db, 'auth', MIGRATIONS);
  const getAgent = db.prepare('SELECT aid, cert_pem, public_key FROM agents WHERE aid = ?');
  const insertAgent = db.prepare('INSERT INTO agents (aid, cert_pem, public_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(aid) DO NOTHING');
  const getDevices = db.prepare('SELECT device_id FROM devices WHERE aid = ? ORDER BY first_seen, device_id');
  const insertDevice = db.prepare('INSERT INTO devices (aid, device_id, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT(aid, device_id) DO UPDATE SET last_seen = excluded.last_seen');
  const deviceExists = db.prepare('SELECT 1 FROM devices WHERE aid = ? AND device_id = ?');
  const countDevices = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE aid = ?');
  const updateAgent = db.prepare('UPDATE agents SET cert_pem = ?, public_key = ? WHERE aid = ? AND cert_pem = ?');
  const getSuperseded = db.prepare('SELECT cert_pem FROM superseded_certs WHERE aid = ? ORDER BY superseded_at DESC, rowid DESC');
  const insertSuperseded = db.prepare('INSERT OR IGNORE INTO superseded_certs (serial, aid, cert_pem, superseded_at) VALUES (?, ?, ?, ?)');

  const deviceKnown = (aid: string, deviceId: string) => deviceExists.get(aid, deviceId) !== undefined;
  const agentCache = new Map<string, AgentRecord>();
  const pendingLogins = new Map<string, PendingLogin>();
  const counts = { logins: 0, refreshes: 0 };

  function agent(aid: string): AgentRecord | null {
    const cached = agentCache.get(aid);
    if (cached) return cached;
    const row = getAgent.get(aid) as { aid: string; cert_pem: string; public_key: string } | undefined;
    if (!row) return null;
    const record: AgentRecord = {
      aid: row.aid, certPem: row.cert_pem, publicKey: row.public_key,
      certFingerprint: certFingerprint(row.cert_pem), certSerial: new X509Certificate(row.cert_pem).serialNumber,
    };
    const former = (getSuperseded.all(aid) as { cert_pem: string }[]).map((r) => r.cert_pem).filter((pem) => sameKey(pem, record));
    if (former.length > 0) record.formerCertPems = former;
    agentCache.set(aid, record);
    return record;
  }

  function requireAgent(aid: string): AgentRecord {
    const a = agent(aid);
    if (!a) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${aid}`);
    return a;
  }

  /**
   * A revoked certificate authenticates nothing: no login, no refresh, no connect. The dev
   * gateway cannot re-key an AID, so a revoked AID stays locked out (docs/decisions.md).
   */
  function requireUnrevoked(a: AgentRecord): void {
    if (isRevoked(a.certSerial)) throw new RpcError(ErrorCode.CertificateRevoked, `certificate revoked: the certificate of ${a.aid} was revoked`);
  }

  /**
   * Takes the nonce an `auth.aid_login1` handed out, named by the call's `aid`, `request_id` and
   * `nonce` (one use, 60 s): login2, renew_cert and rekey (spec protocol §3.2). Its certificate
   * must still be good.
   */
  function takeNonce(params: object): { aid: string; nonce: string; agent: AgentRecord; login: PendingLogin } {
    const aid = str(params, 'aid', { max: 255 });
    const requestId = str(params, 'request_id', { max: 128 });
    const nonce = str(params, 'nonce', { max: 256 });
    sweepLogins(now());
    const pending = pendingLogins.get(requestId);
    if (!pending || pending.aid !== aid || pending.nonce !== nonce) {
      throw new RpcError(ErrorCode.CertificateOrNonceInvalid, 'login nonce invalid, expired or already used: run auth.aid_login1 again');
    }
    pendingLogins.delete(requestId);
    const a = requireAgent(aid);
    // Revoked between login1 and now.
    requireUnrevoked(a);
    return { aid, nonce, agent: a, login: pending };
  }

  /**
   * Replaces the AID's certificate (and key) with one just issued, unless another renewal or rekey
   * replaced it since `before` was read: then the new certificate goes unused and the caller is
   * told to start again. The replaced certificate's serial stays known (OCSP, revoke).
   */
  function replaceCert(before: AgentRecord, certPem: string, publicKey: string): AgentRecord {
    const t = now();
    const swapped = db.transaction(() => {
      if (updateAgent.run(certPem, publicKey, before.aid, before.certPem).changes === 0) return false;
      insertSuperseded.run(before.certSerial, before.aid, before.certPem, t);
      return true;
    })();
    if (!swapped) throw new RpcError(ErrorCode.CertificateOrNonceInvalid, `the certificate of ${before.aid} changed meanwhile: run auth.aid_login1 again`);
    agentCache.delete(before.aid);
    return agent(before.aid)!;
  }

  function issuedResult(a: AgentRecord): CertIssuedResult {
    return { aid: a.aid, cert: a.certPem, cert_pem: a.certPem, ca_cert: pki.issuerPem, curve: 'P-256', cert_sn: a.certSerial.toLowerCase() };
  }

  function sweepLogins(t: number): void {
    // In the order they were handed out, so in expiry order (one TTL): stop at the first live one.
    // Each call scanned every pending login before, a cost that grew with the unauthenticated flood.
    for (const [id, p] of pendingLogins) {
      if (p.expiresAt > t) break;
      pendingLogins.delete(id);
    }
  }

  const handlers: PreAuthHandlers = {
    async 'auth.create_aid'(params) {
      const aid = str(params, 'aid', { pattern: AID_PATTERN, max: 255 });
      const publicKey = str(params, 'public_key', { max: 512 });
      const curve = str(params, 'curve', { optional: true }) ?? 'P-256';
      if (curve !== 'P-256') throw new RpcError(ErrorCode.InvalidParams, `unsupported curve ${curve}: the dev gateway issues P-256 agent certificates`);
      if (!aid.endsWith(`.${issuer}`)) throw new RpcError(ErrorCode.InvalidParams, `aid ${aid} is not under this gateway's issuer ${issuer}`);
      if (aid === `group.${issuer}` || aid === `auth.${issuer}`) throw new RpcError(ErrorCode.InvalidParams, `aid ${aid} is reserved`);
      const spki = p256Spki(publicKey, 'public_key');
      const registered = (): CreateAidResult | null => {
        const existing = agent(aid);
        if (!existing) return null;
        if (existing.publicKey !== spki.toString('base64')) throw new RpcError(ErrorCode.IdentityConflict, `aid ${aid} is already registered with another key`);
        return { aid, cert: existing.certPem, ca_cert: pki.issuerPem, curve };
      };
      const before = registered();
      if (before) return before;
      // A named group holds a certificate for its id, and group.create refuses a registered AID:
      // the other way round too, or one name would get two certificates (two keys, one CN).
      if (db.prepare('SELECT 1 FROM group_info WHERE group_id = ?').get(aid) !== undefined) {
        throw new RpcError(ErrorCode.IdentityConflict, `identity conflict: ${aid} is a group's id`);
      }
      const { pem: cert } = await certs.issue(aid, spki);
      // Two registrations of one AID can both be issuing here: the first insert wins and the
      // other answers as a repeat (same key) or a conflict (another key) would.
      if (insertAgent.run(aid, cert, spki.toString('base64'), now()).changes === 0) return registered()!;
      return { aid, cert, ca_cert: pki.issuerPem, curve };
    },

    'auth.aid_login1'(params) {
      const aid = str(params, 'aid', { max: 255 });
      const clientNonce = str(params, 'client_nonce', { max: 256 });
      const cert = str(params, 'cert', { optional: true, max: MAX_CERT_CHARS });
      const a = requireAgent(aid);
      requireUnrevoked(a);
      // A device that still holds the certificate a renewal replaced (same key) logs in, and
      // login2 hands it the current one as `active_cert`; a certificate of another key does not.
      if (cert !== undefined && !sameKey(cert, a)) {
        throw new RpcError(ErrorCode.CertificateOrNonceInvalid, 'cert does not match the certificate registered for this aid');
      }
      const t = now();
      sweepLogins(t);
      if (pendingLogins.size >= MAX_PENDING_LOGINS) {
        throw new RpcError(ErrorCode.RateLimited, 'too many logins in progress: try again in a minute');
      }
      const requestId = 'req-' + randomUUID().replace(/-/g, '').slice(0, 12);
      const nonce = randomBytes(24).toString('base64url');
      pendingLogins.set(requestId, { aid, nonce, expiresAt: t + LOGIN_NONCE_TTL_MS, ...(cert !== undefined ? { cert } : {}) });
      return {
        request_id: requestId,
        nonce,
        server_time: Math.floor(t / 1000),
        client_nonce_signature: signDer(pki.authKey, Buffer.from(clientNonce, 'utf8')),
        auth_cert: pki.authCertPem,
        auth_curve: 'P-256',
      };
    },

    async 'auth.aid_login2'(params) {
      const signature = str(params, 'signature', { max: 512 });
      const rawTime = (params as { client_time?: unknown }).client_time;
      if ((typeof rawTime !== 'string' && typeof rawTime !== 'number') || String(rawTime).length > MAX_CLIENT_TIME_CHARS) {
        throw new RpcError(ErrorCode.InvalidParams, `invalid params: client_time must be a string (or number) of at most ${MAX_CLIENT_TIME_CHARS} characters`);
      }
      // The client signs the exact text it sends; a number is signed as JavaScript prints it.
      const clientTime = String(rawTime);
      // Not checked: the docs list a `cert` here that the SDKs do not send; a PEM is only compared.
      const shown = typeof params.cert === 'string' && params.cert.length <= MAX_CERT_CHARS ? params.cert : undefined;
      const { aid, nonce, agent: a, login } = takeNonce(params);
      const signed = Buffer.from(`${nonce}:${clientTime}`, 'utf8');
      if (!verifyEcdsa(publicKeyFromSpki(a.publicKey), signed, Buffer.from(signature, 'base64'))) {
        throw new RpcError(ErrorCode.SignatureFailed, 'login signature verification failed');
      }
      const grant = tokens.grant(aid, Math.floor(now() / 1000));
      counts.logins++;
      // Past half its life, the certificate is renewed as the login goes (§3.3 `new_cert`).
      if (pastHalfLife(a.certPem, now())) {
        try {
          const { pem: cert } = await certs.issue(aid, Buffer.from(a.publicKey, 'base64'));
          return { status: 'ok', aid, ...grant, new_cert: replaceCert(a, cert, a.publicKey).certPem, token: grant.access_token };
        } catch {
          // Renewed meanwhile by another login or renew_cert (that certificate is the current
          // one), or not issued: the login stands either way.
        }
      }
      // The device showed a certificate a renewal replaced: the current one is its to use (§3.3).
      const current = agent(aid) ?? a;
      const held = shown ?? login.cert;
      const active = held !== undefined && normalizePem(held) !== normalizePem(current.certPem) ? { active_cert: current.certPem } : {};
      return { status: 'ok', aid, ...grant, ...active, token: grant.access_token };
    },

    'auth.refresh_token'(params) {
      const token = str(params, 'refresh_token', { optional: true, max: 512 });
      if (!token) return { success: false, error: 'missing refresh_token', relogin_required: true, retryable: false };
      // A revoked certificate is refused before the rotation, so the token is not spent on it.
      const revoked = (aid: string) => {
        const a = agent(aid);
        return a && isRevoked(a.certSerial) ? 'certificate_revoked' : null;
      };
      const outcome = tokens.refresh(token, Math.floor(now() / 1000), revoked);
      if (!outcome.ok) {
        return { success: false, error: outcome.error, relogin_required: true, retryable: false, diagnostic: { refresh_token_hash_prefix: outcome.hashPrefix } };
      }
      counts.refreshes++;
      return {
        success: true,
        ...outcome.grant,
        aid: outcome.aid,
        refresh_count: outcome.refreshCount,
        relogin_required: false,
        retryable: false,
      };
    },

    async 'auth.renew_cert'(params) {
      const signature = str(params, 'signature', { max: 512 });
      const { aid, nonce, agent: a } = takeNonce(params);
      if (!verifyEcdsa(publicKeyFromSpki(a.publicKey), Buffer.from(nonce, 'utf8'), Buffer.from(signature, 'base64'))) {
        throw new RpcError(ErrorCode.SignatureFailed, 'renew_cert signature verification failed');
      }
      const { pem: cert } = await certs.issue(aid, Buffer.from(a.publicKey, 'base64'));
      return issuedResult(replaceCert(a, cert, a.publicKey));
    },

    async 'auth.rekey'(params) {
      const newPublicKey = str(params, 'new_public_key', { max: 512 });
      const signature = str(params, 'signature', { max: 512 });
      const { aid, nonce, agent: a } = takeNonce(params);
      // Signed by the current key over the text as sent: nonce ‖ new_public_key (§4.3).
      if (!verifyEcdsa(publicKeyFromSpki(a.publicKey), Buffer.from(nonce + newPublicKey, 'utf8'), Buffer.from(signature, 'base64'))) {
        throw new RpcError(ErrorCode.SignatureFailed, 'rekey signature verification failed');
      }
      const spki = p256Spki(newPublicKey, 'new_public_key');
      if (spki.toString('base64') === a.publicKey) throw new RpcError(ErrorCode.InvalidParams, 'new_public_key is the current key: use auth.renew_cert');
      const { pem: cert } = await certs.issue(aid, spki);
      const next = replaceCert(a, cert, spki.toString('base64'));
      // The old key opens nothing any more: its certificate is revoked (CRL, OCSP) and the refresh
      // tokens its logins were granted are spent.
      certs.revoke(a.certSerial);
      tokens.revokeAll(aid);
      return issuedResult(next);
    },
  };

  return {
    handlers,
    agent,
    *certsOf(aid) {
      const a = agent(aid);
      if (!a) return;
      yield a.certPem;
      for (const r of getSuperseded.iterate(aid) as Iterable<{ cert_pem: string }>) yield r.cert_pem;
    },
    requireUnrevoked,
    counts,
    knownDevices: (aid) => (getDevices.all(aid) as { device_id: string }[]).map((r) => r.device_id),
    deviceKnown,
    deviceCount: (aid) => (countDevices.get(aid) as { n: number }).n,
    touchDevice(aid, deviceId, t) {
      const first = !deviceKnown(aid, deviceId);
      insertDevice.run(aid, deviceId, t, t);
      return first;
    },
  };
}
