// Two-phase login on short sockets (spec §3.2–§3.3) and the refresh-token grant (spec §4.5).
// The auth server proves itself first: its certificate must chain to a trusted root and it must
// have signed our client_nonce.

import { fromBase64, pemToDer, toBase64, utf8 } from '../../protocol/bytes.ts';
import { AuthError, ErrorCode } from '../../protocol/errors.ts';
import { httpBaseOf, systemTimers, type Timers, type WebSocketCtor } from '../net/io.ts';
import { sameKey, verifiedCert } from './identity.ts';
import { shortRpc } from './short-rpc.ts';
import { signDer, verifyDer } from './sign.ts';
import type { TrustStore } from './trust.ts';
import { parseCertificate, verifyKey } from './x509.ts';

export const SDK_LANG = 'javascript';
export const SDK_VERSION = 'aun-worker/0.1.0';
/** Far above any certificate PEM; a longer `new_cert` is not looked at. */
const MAX_CERT_CHARS = 16_384;
/** Assumed when a grant has no `expires_in` (spec §3.3). */
const DEFAULT_EXPIRES_IN_S = 3600;

export interface AuthContext {
  /** ws(s)://…/ws of the gateway. */
  url: string;
  trust: TrustStore;
  /** Defaults to the http(s) origin of `url`. */
  httpBase?: string;
  WebSocketImpl?: WebSocketCtor;
  timers?: Timers;
  /** Per short RPC. */
  timeoutMs?: number;
}

export interface Credentials {
  aid: string;
  certPem: string;
  /** ECDSA P-256, usage `sign`; never extractable. */
  privateKey: CryptoKey;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** Seconds, from the moment the grant was received. */
  expiresIn: number;
}

export interface LoginResult extends Tokens {
  /**
   * A certificate login2 handed over for this AID (spec §3.3: `new_cert`, issued past half the
   * old one's life, or `active_cert`, the one the gateway holds now), not checked yet: see
   * checkOfferedCert.
   */
  offeredCert?: string;
}

export async function login(creds: Credentials, ctx: AuthContext): Promise<LoginResult> {
  const timers = ctx.timers ?? systemTimers;
  const clientNonce = toBase64(crypto.getRandomValues(new Uint8Array(12)));
  const l1 = await shortRpc(ctx.url, 'auth.aid_login1', { aid: creds.aid, cert: creds.certPem, client_nonce: clientNonce }, ctx);
  await verifyAuthServer(l1.auth_cert, l1.client_nonce_signature, clientNonce, ctx);
  const clientTime = String(Math.floor(timers.now() / 1000));
  const signature = await signDer(creds.privateKey, utf8(`${l1.nonce}:${clientTime}`));
  const l2 = await shortRpc(ctx.url, 'auth.aid_login2', {
    aid: creds.aid, request_id: l1.request_id, nonce: l1.nonce, client_time: clientTime, signature: toBase64(signature),
  }, ctx);
  const result = l2 as unknown as Record<string, unknown>;
  const tokens: LoginResult = tokensOf(result, 'auth.aid_login2');
  const offered = [result.new_cert, result.active_cert].find((c): c is string => typeof c === 'string' && c !== '' && c.length <= MAX_CERT_CHARS);
  if (offered !== undefined && offered.trim() !== creds.certPem.trim()) tokens.offeredCert = offered;
  return tokens;
}

/**
 * The offered certificate when it may replace ours (spec §3.3): it chains to a trusted root, is
 * valid now, names our AID, and carries the key of the certificate we hold (so our private key
 * still signs for it). Anything else is refused with the reason, and ours stays.
 */
export async function checkOfferedCert(offered: string, creds: Credentials, ctx: AuthContext): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    const cert = await verifiedCert(offered, creds.aid, ctx.trust, ctx.httpBase ?? httpBaseOf(ctx.url));
    if (!sameKey(cert, parseCertificate(pemToDer(creds.certPem)).spki)) return { ok: false, why: 'it carries another key than ours' };
    return { ok: true };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

async function verifyAuthServer(authCertPem: unknown, signatureB64: unknown, clientNonce: string, ctx: AuthContext): Promise<void> {
  if (typeof authCertPem !== 'string' || typeof signatureB64 !== 'string') {
    throw new AuthError('auth.aid_login1: auth_cert and client_nonce_signature are required', ErrorCode.AuthFailed);
  }
  const cert = await ctx.trust.verifyLeaf(authCertPem, ctx.httpBase ?? httpBaseOf(ctx.url));
  let signature: Uint8Array;
  try {
    signature = fromBase64(signatureB64);
  } catch {
    throw new AuthError('auth.aid_login1: client_nonce_signature is not base64', ErrorCode.AuthFailed);
  }
  let key: CryptoKey;
  try {
    key = await verifyKey(cert);
  } catch {
    throw new AuthError(`the auth server's certificate "${cert.subject}" does not carry a P-256 or P-384 ECDSA key`, ErrorCode.AuthFailed);
  }
  // Signed text is the client_nonce string as sent, not its base64-decoded bytes (spec §3.2).
  if (!(await verifyDer(key, utf8(clientNonce), signature))) {
    throw new AuthError('the auth server\'s signature over client_nonce does not verify: not talking to the real auth service', ErrorCode.AuthFailed);
  }
}

function tokensOf(result: Record<string, unknown>, method: string): Tokens {
  const accessToken = [result.access_token, result.token, result.kite_token].find((t): t is string => typeof t === 'string' && t !== '');
  if (!accessToken) throw new AuthError(`${method} returned no access token`, ErrorCode.AuthFailed);
  const refreshToken = typeof result.refresh_token === 'string' ? result.refresh_token : '';
  const expiresIn = typeof result.expires_in === 'number' && result.expires_in > 0 ? result.expires_in : DEFAULT_EXPIRES_IN_S;
  return { accessToken, refreshToken, expiresIn };
}

export type RefreshResult =
  | { ok: true; tokens: Tokens }
  /** `reloginRequired`: the refresh chain is gone; only a full login helps. */
  | { ok: false; reloginRequired: boolean; retryable: boolean; error: string };

export interface RefreshInput {
  aid: string;
  refreshToken: string;
  accessToken?: string;
  /** ms */
  accessExpiresAt?: number;
}

/** `auth.refresh_token`; a refusal is a result, a transport failure throws. */
export async function refreshTokens(input: RefreshInput, ctx: AuthContext): Promise<RefreshResult> {
  try {
    const result = await shortRpc(ctx.url, 'auth.refresh_token', {
      refresh_token: input.refreshToken,
      sdk_lang: SDK_LANG,
      sdk_version: SDK_VERSION,
      aid: input.aid,
      access_token: input.accessToken,
      access_token_expires_at: input.accessExpiresAt === undefined ? undefined : Math.floor(input.accessExpiresAt / 1000),
    }, ctx);
    return { ok: true, tokens: tokensOf(result as unknown as Record<string, unknown>, 'auth.refresh_token') };
  } catch (err) {
    const refusal = err instanceof AuthError ? (err.data as Record<string, unknown> | undefined) : undefined;
    if (refusal?.success !== false) throw err;
    return {
      ok: false,
      reloginRequired: refusal.relogin_required === true,
      retryable: refusal.retryable === true,
      error: typeof refusal.error === 'string' ? refusal.error : 'refresh refused',
    };
  }
}
