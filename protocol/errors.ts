// Error codes of spec/protocol.md §11 and the typed errors they map to. One table, used by the
// gateway to answer and by the worker and tabs to classify; and the one pair of functions that
// carries a typed error across a port (owner → tab) as plain data.

/** The code of an error with no code of its own (an AunError's default). */
const INTERNAL = -32603;
/** Retryable V2 send rejections: drop the bootstrap cache, rebuild, retry once (spec §6.1). */
const V2_STALE = {
  V2DeviceNotFound: -33011,
  V2PrekeyStale: -33012,
  V2RecipientMismatch: -33050,
  V2EpochMismatch: -33052,
  V2MemberListChanged: -33054,
} as const;

// A tab loads only the error classes: nothing at module level reads this table, so a bundler
// leaves it out of what a tab loads.
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: INTERNAL,
  ProtocolVersionMismatch: -32000,
  AuthFailed: -32001,
  CertificateOrNonceInvalid: -32002,
  SignatureFailed: -32003,
  PermissionDenied: -32004,
  TokenExpired: -32005,
  NotFound: -32008,
  VersionConflict: -32009,
  AgentNotOnline: -32010,
  SessionNotFound: -32011,
  ConnectRequired: -32013,
  RateLimited: -32029,
  Backpressure: -32429,
  CertificateRevoked: -32050,
  ClientSignatureInvalid: -32051,
  IdentityConflict: -32052,
  GroupNotFound: -33001,
  GroupStateInvalid: -33002,
  GroupSuspended: -33003,
  GroupMemberLimit: -33004,
  GroupAlreadyMember: -33005,
  GroupNotMember: -33006,
  GroupRoleInsufficient: -33007,
  GroupInviteInvalid: -33008,
  GroupJoinRejected: -33009,
  ...V2_STALE,
  ConnectMissingParams: 4000,
  ConnectAuthFailed: 4001,
  ConnectBadNonce: 4010,
  Forbidden: 4030,
  NotFoundAlt: 4040,
  RateLimitedAlt: 4290,
  GatewayInternal: 4500,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

/** WebSocket close codes (spec §3.7). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  Abnormal: 1006,
  MessageTooBig: 1009,
  InternalError: 1011,
  AuthFailed: 4001,
  InvalidAid: 4003,
  AuthTimeout: 4008,
  ServerKick: 4009,
  InvalidNonce: 4010,
  FederationDenied: 4011,
  LongConnectionExists: 4012,
  ShortCapacityExceeded: 4013,
  ShortIdleTimeout: 4014,
  Evicted: 4015,
} as const;

/** Close codes after which a client must not reconnect by itself. */
export const NO_RECONNECT_CLOSE_CODES: ReadonlySet<number> = new Set([
  4001, 4003, 4008, 4009, 4010, 4011, 4012, 4013, 4014, 4015,
]);

/** Retryable V2 send rejections: drop the bootstrap cache, rebuild, retry once (spec §6.1). */
export const V2_RETRYABLE_SEND_CODES: ReadonlySet<number> = /* @__PURE__ */ new Set(/* @__PURE__ */ Object.values(V2_STALE));

export class AunError extends Error {
  override name = 'AunError';
  readonly code: number;
  readonly data: unknown;
  readonly retryable: boolean;
  constructor(message: string, code: number = INTERNAL, data?: unknown, retryable = false) {
    super(message);
    this.code = code;
    this.data = data;
    this.retryable = retryable;
  }
  toJSON(): { name: string; code: number; message: string; data?: unknown } {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
}

export class ValidationError extends AunError { override name = 'ValidationError'; }
export class AuthError extends AunError { override name = 'AuthError'; }
export class PermissionError extends AunError { override name = 'PermissionError'; }
export class NotFoundError extends AunError { override name = 'NotFoundError'; }
export class VersionConflictError extends AunError { override name = 'VersionConflictError'; }
export class SessionError extends AunError { override name = 'SessionError'; }
export class RateLimitError extends AunError { override name = 'RateLimitError'; }
export class CertificateRevokedError extends AunError { override name = 'CertificateRevokedError'; }
export class ClientSignatureError extends AunError { override name = 'ClientSignatureError'; }
export class IdentityConflictError extends AunError { override name = 'IdentityConflictError'; }
export class GroupError extends AunError { override name = 'GroupError'; }
export class GroupNotFoundError extends GroupError { override name = 'GroupNotFoundError'; }
export class GroupStateError extends GroupError { override name = 'GroupStateError'; }
/** A V2 send the server rejected because the sender's view of keys or members is stale. */
export class V2StaleKeysError extends AunError { override name = 'V2StaleKeysError'; }
/** A call that got no answer before its deadline. */
export class TimeoutError extends AunError { override name = 'TimeoutError'; }
/** The connection (or the owner of it) went away while a call was in flight. */
export class ConnectionLostError extends AunError { override name = 'ConnectionLostError'; }
/**
 * This tab's build cannot be served by the owner that runs now (its tab protocol is different),
 * or a newer build took over: reload the page to load the new build.
 */
export class UpdateRequiredError extends AunError { override name = 'UpdateRequiredError'; }

type ErrorClass = new (message: string, code?: number, data?: unknown, retryable?: boolean) => AunError;

function classFor(code: number): ErrorClass {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.MethodNotFound:
    case ErrorCode.InvalidParams:
    case ErrorCode.ConnectMissingParams:
      return ValidationError;
    case ErrorCode.AuthFailed:
    case ErrorCode.SignatureFailed:
    case ErrorCode.ConnectAuthFailed:
    case ErrorCode.ConnectBadNonce:
      return AuthError;
    case ErrorCode.PermissionDenied:
    case ErrorCode.Forbidden:
    case 403:
      return PermissionError;
    case ErrorCode.NotFound:
    case ErrorCode.NotFoundAlt:
    case 404:
      return NotFoundError;
    case ErrorCode.VersionConflict:
      return VersionConflictError;
    case ErrorCode.AgentNotOnline:
    case ErrorCode.SessionNotFound:
    case ErrorCode.ConnectRequired:
      return SessionError;
    case ErrorCode.RateLimited:
    case ErrorCode.Backpressure:
    case ErrorCode.RateLimitedAlt:
    case 429:
      return RateLimitError;
    case ErrorCode.CertificateRevoked:
      return CertificateRevokedError;
    case ErrorCode.ClientSignatureInvalid:
      return ClientSignatureError;
    case ErrorCode.IdentityConflict:
      return IdentityConflictError;
    case ErrorCode.GroupNotFound:
      return GroupNotFoundError;
    case ErrorCode.GroupStateInvalid:
    case ErrorCode.GroupSuspended:
      return GroupStateError;
  }
  if (V2_RETRYABLE_SEND_CODES.has(code)) return V2StaleKeysError;
  if (code <= -33004 && code >= -33009) return GroupError;
  return AunError;
}

function isRetryable(code: number, message: string): boolean {
  if (code === ErrorCode.RateLimited || code === ErrorCode.Backpressure || code === ErrorCode.RateLimitedAlt || code === 429) return true;
  if (code === ErrorCode.AgentNotOnline) return true;
  if (code >= 5000 && code <= 5999) return true;
  if (V2_RETRYABLE_SEND_CODES.has(code)) return true;
  return /gateway service degraded|certificate not loaded/.test(message);
}

/** Builds the typed error for a JSON-RPC error body received from the gateway. */
export function errorFromRpc(body: { code: number; message: string; data?: unknown }): AunError {
  const Cls = classFor(body.code);
  return new Cls(body.message, body.code, body.data, isRetryable(body.code, body.message));
}

/** Every class above by name, so an error that crossed a postMessage boundary can be rebuilt. */
export const ERROR_CLASSES: Record<string, ErrorClass> = /* @__PURE__ */ Object.fromEntries(/* @__PURE__ */ [
  AunError, ValidationError, AuthError, PermissionError, NotFoundError, VersionConflictError,
  SessionError, RateLimitError, CertificateRevokedError, ClientSignatureError,
  IdentityConflictError, GroupError, GroupNotFoundError, GroupStateError, V2StaleKeysError,
  TimeoutError, ConnectionLostError, UpdateRequiredError,
].map((Cls) => [new Cls('').name, Cls]));

/** Results cross the port as plain data; errors keep their class name and code. */
export interface WireError { name: string; code: number; message: string; data?: unknown; retryable?: boolean }

/** An error as plain data for a port (a failed facade call, a `send.failed` event). */
export function errorToWire(err: unknown): WireError {
  if (err instanceof AunError) {
    return { name: err.name, code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }), ...(err.retryable ? { retryable: true } : {}) };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name === 'AbortError' ? 'AbortError' : 'AunError', code: ErrorCode.Internal, message: e.message };
}

/**
 * Rebuilds the typed error a plain `{name, code, message, data, retryable}` stands for (as carried
 * by `send.failed` events and by every failed call across the port).
 */
export function errorFromWire(e: WireError): AunError {
  const Cls = ERROR_CLASSES[e.name];
  const err = new (Cls ?? AunError)(e.message, e.code, e.data, e.retryable === true);
  // A worker-only class (a store or E2EE error) arrives as an AunError that keeps its name.
  if (!Cls && typeof e.name === 'string') err.name = e.name;
  return err;
}
