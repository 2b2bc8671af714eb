// Identity and credentials (spec §3.2, §3.3, §4.2, §4.5): agents, their devices, the two-phase
// login and token grants. These methods travel on short pre-auth sockets.

import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import type Database from 'better-sqlite3';
import { P256_SPKI_LENGTH } from '../../protocol/bytes.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { type CreateAidResult, type MethodName, type ParamsOf, type ResultOf } from '../../protocol/methods.ts';
import { RpcError, type AgentRecord, type Connection } from '../context.ts';
import { migrate } from '../db.ts';
import { certFingerprint, type Pki } from '../pki.ts';
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

type PreAuthMethod = 'auth.create_aid' | 'auth.aid_login1' | 'auth.aid_login2' | 'auth.refresh_token';
export type PreAuthHandlers = { [M in PreAuthMethod]: (params: ParamsOf<M>, conn: Connection) => Promise<ResultOf<M>> | ResultOf<M> };

interface PendingLogin { aid: string; nonce: string; expiresAt: number }

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
}

export function isPreAuthMethod(name: MethodName): name is PreAuthMethod {
  return name === 'auth.create_aid' || name === 'auth.aid_login1' || name === 'auth.aid_login2' || name === 'auth.refresh_token';
}

function normalizePem(pem: string): string {
  return pem.replace(/\r/g, '').trim();
}

export function createAuthService(
  db: Database.Database,
  pki: Pki,
  tokens: TokenService,
  issuer: string,
  now: () => number,
  isRevoked: (serial: string) => boolean,
): AuthService {
  migrate(db, 'auth', MIGRATIONS);
  const getAgent = db.prepare('SELECT aid, cert_pem, public_key FROM agents WHERE aid = ?');
  const insertAgent = db.prepare('INSERT INTO agents (aid, cert_pem, public_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(aid) DO NOTHING');
  const getDevices = db.prepare('SELECT device_id FROM devices WHERE aid = ? ORDER BY first_seen, device_id');
  const insertDevice = db.prepare('INSERT INTO devices (aid, device_id, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT(aid, device_id) DO UPDATE SET last_seen = excluded.last_seen');
  const deviceExists = db.prepare('SELECT 1 FROM devices WHERE aid = ? AND device_id = ?');
  const countDevices = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE aid = ?');

  const deviceKnown = (aid: string, deviceId: string) => deviceExists.get(aid, deviceId) !== undefined;
  const agentCache = new Map<string, AgentRecord>();
  const pendingLogins = new Map<string, PendingLogin>();
  const counts = { logins: 0, refreshes: 0 };

  function agent(aid: string): AgentRecord | null {
    const cached = agentCache.get(aid);
    if (cached) return cached;
    const row = getAgent.get(aid) as { aid: string; cert_pem: string; public_key: string } | undefined;
    if (!row) return null;
    const record = {
      aid: row.aid, certPem: row.cert_pem, publicKey: row.public_key,
      certFingerprint: certFingerprint(row.cert_pem), certSerial: new X509Certificate(row.cert_pem).serialNumber,
    };
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
      const spki = Buffer.from(publicKey, 'base64');
      if (spki.length !== P256_SPKI_LENGTH) throw new RpcError(ErrorCode.InvalidParams, 'public_key must be a P-256 SubjectPublicKeyInfo (91 bytes DER, base64)');
      try {
        publicKeyFromSpki(publicKey);
      } catch {
        throw new RpcError(ErrorCode.InvalidParams, 'public_key is not a valid P-256 key');
      }
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
      const cert = await pki.issueAgent(aid, spki);
      // Two registrations of one AID can both be issuing here: the first insert wins and the
      // other answers as a repeat (same key) or a conflict (another key) would.
      if (insertAgent.run(aid, cert, spki.toString('base64'), now()).changes === 0) return registered()!;
      return { aid, cert, ca_cert: pki.issuerPem, curve };
    },

    'auth.aid_login1'(params) {
      const aid = str(params, 'aid', { max: 255 });
      const clientNonce = str(params, 'client_nonce', { max: 256 });
      const cert = str(params, 'cert', { optional: true });
      const a = requireAgent(aid);
      requireUnrevoked(a);
      if (cert !== undefined && normalizePem(cert) !== normalizePem(a.certPem)) {
        throw new RpcError(ErrorCode.CertificateOrNonceInvalid, 'cert does not match the certificate registered for this aid');
      }
      const t = now();
      sweepLogins(t);
      if (pendingLogins.size >= MAX_PENDING_LOGINS) {
        throw new RpcError(ErrorCode.RateLimited, 'too many logins in progress: try again in a minute');
      }
      const requestId = 'req-' + randomUUID().replace(/-/g, '').slice(0, 12);
      const nonce = randomBytes(24).toString('base64url');
      pendingLogins.set(requestId, { aid, nonce, expiresAt: t + LOGIN_NONCE_TTL_MS });
      return {
        request_id: requestId,
        nonce,
        server_time: Math.floor(t / 1000),
        client_nonce_signature: signDer(pki.authKey, Buffer.from(clientNonce, 'utf8')),
        auth_cert: pki.authCertPem,
        auth_curve: 'P-256',
      };
    },

    'auth.aid_login2'(params) {
      const aid = str(params, 'aid', { max: 255 });
      const requestId = str(params, 'request_id', { max: 128 });
      const nonce = str(params, 'nonce', { max: 256 });
      const signature = str(params, 'signature', { max: 512 });
      const rawTime = (params as { client_time?: unknown }).client_time;
      if ((typeof rawTime !== 'string' && typeof rawTime !== 'number') || String(rawTime).length > MAX_CLIENT_TIME_CHARS) {
        throw new RpcError(ErrorCode.InvalidParams, `invalid params: client_time must be a string (or number) of at most ${MAX_CLIENT_TIME_CHARS} characters`);
      }
      // The client signs the exact text it sends; a number is signed as JavaScript prints it.
      const clientTime = String(rawTime);
      const t = now();
      sweepLogins(t);
      const pending = pendingLogins.get(requestId);
      if (!pending || pending.aid !== aid || pending.nonce !== nonce) {
        throw new RpcError(ErrorCode.CertificateOrNonceInvalid, 'login nonce invalid, expired or already used: run auth.aid_login1 again');
      }
      pendingLogins.delete(requestId);
      const a = requireAgent(aid);
      // Revoked between login1 and login2.
      requireUnrevoked(a);
      const signed = Buffer.from(`${nonce}:${clientTime}`, 'utf8');
      if (!verifyEcdsa(publicKeyFromSpki(a.publicKey), signed, Buffer.from(signature, 'base64'))) {
        throw new RpcError(ErrorCode.SignatureFailed, 'login signature verification failed');
      }
      const grant = tokens.grant(aid, Math.floor(t / 1000));
      counts.logins++;
      return { status: 'ok', aid, ...grant, token: grant.access_token };
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
  };

  return {
    handlers,
    agent,
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
