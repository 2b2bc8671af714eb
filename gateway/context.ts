// The seam between the gateway core (sockets, auth, PKI, admin) and its services (message,
// group). A service gets a GatewayContext, owns its own tables, and returns handlers keyed by the
// protocol method map.

import type Database from 'better-sqlite3';
import type { EventMap, EventName } from '../protocol/events.ts';
import type { ConnectParams, MethodName, ParamsOf, ResultOf } from '../protocol/methods.ts';
import type { StoredNote } from './push-aggregator.ts';

export type ConnectionKind = 'pending' | 'long' | 'short';

/** The one AUN protocol version the gateway speaks (challenge, auth.connect, meta.status). */
export const PROTOCOL_VERSION = '1.0';

export interface GatewayConfig {
  issuer: string;
  /** Access-token lifetime, seconds. */
  tokenTtl: number;
  /** Refresh-token chain lifetime, seconds. */
  refreshTtl: number;
  /** Sent in hello-ok and meta.ping, seconds. */
  heartbeatInterval: number;
  /** Unauthenticated sockets are closed after this, ms (0 disables). */
  authDeadlineMs: number;
  /** How far in the past / future a V2 envelope's t_send may be, ms. */
  sendMaxAgeMs: number;
  sendMaxFutureMs: number;
  /** client_signature timestamp skew accepted, seconds. */
  signatureSkew: number;
  /**
   * Outgoing bytes one socket may have queued (not yet taken by the kernel) when the gateway writes
   * it another frame; over it, the socket is terminated instead (a client that stopped reading).
   */
  maxBufferedBytes: number;
  /** Bytes of thought envelopes kept in memory over every owner; the least recently written heads go past it. */
  maxThoughtBytes: number;
  /**
   * Every this many ms the gateway sends each socket a WebSocket ping; a socket that answered
   * nothing (no pong, no frame) since the last one is terminated (0 disables).
   */
  livenessMs: number;
}

export interface Connection {
  readonly id: string;
  readonly kind: ConnectionKind;
  /** Set once auth.connect succeeded. */
  readonly aid: string | null;
  readonly deviceId: string;
  readonly slotId: string;
  /** Slot isolation key: slot_id up to the first '/', ':' or space (spec §3.4). */
  readonly slotKey: string;
  readonly connectedAt: number;
  /** Queues a frame; honours the admin pause/delay switches. */
  send(frame: object): void;
  close(code: number, reason: string): void;
}

/** A connection on which auth.connect succeeded. */
export interface AuthedConnection extends Connection {
  readonly aid: string;
  readonly kind: 'long' | 'short';
}

export interface AgentRecord {
  aid: string;
  certPem: string;
  /** SPKI DER, standard base64 (spec §4.2). */
  publicKey: string;
  /** "sha256:" + 64 hex of the certificate DER. */
  certFingerprint: string;
  /** The certificate's serial, hex (as node:crypto prints it). */
  certSerial: string;
  /**
   * Certificates of this same key that renewals replaced: a device that has not logged in since
   * still names one in `client_signature.cert_fingerprint`, and its signature is by this key.
   */
  formerCertPems?: readonly string[];
}

export interface GatewayContext {
  readonly db: Database.Database;
  readonly config: GatewayConfig;
  /** Milliseconds since the epoch; one clock for the whole gateway. */
  now(): number;
  agent(aid: string): AgentRecord | null;
  /** PEM of the issuer CA then the root CA (what /pki/chain serves). */
  caChain(): string[];
  /** Device ids that ever connected for this AID, oldest first. */
  knownDevices(aid: string): string[];
  /** Live authenticated long connections of an AID, optionally of one device. */
  longConnections(aid: string, deviceId?: string): AuthedConnection[];
  isOnline(aid: string): boolean;
  push<E extends EventName>(targets: Iterable<Connection>, event: E, params: EventMap[E]): void;
  /** Issues a P-256 certificate `CN=<aid>` under the issuer CA (named groups); PEM and serial hex. */
  issueCert(aid: string, spkiDer: Uint8Array): Promise<{ pem: string; serial: string }>;
  /** Revokes a certificate this gateway issued (a named group's key replaced at a transfer). */
  revokeCert(serial: string): void;
  /** Counters shown by GET /admin/stats. */
  count(counter: 'messages_stored', by?: number): void;
  /** A message was stored for `note.to` (once per message and target AID): feeds offline push. */
  messageStored(note: StoredNote): void;
}

export type Handler<M extends MethodName> = (
  params: ParamsOf<M>,
  conn: AuthedConnection,
  ctx: GatewayContext,
) => ResultOf<M> | Promise<ResultOf<M>>;

export type HandlerTable = { [M in MethodName]?: Handler<M> };

export interface Service {
  handlers: HandlerTable;
  /** Called after a long connection authenticated (backlog hints, first-seen device work). */
  onLongConnected?(conn: AuthedConnection, firstSeenDevice: boolean): void;
  /** Called after any auth.connect succeeded, before the answer goes out (push config). */
  onConnect?(conn: AuthedConnection, params: ConnectParams): void;
  /** Called when the gateway closes (timers). */
  close?(): void;
  /** A client notification (a frame without id) after auth.connect, e.g. `notification/route`. */
  onNotification?(conn: AuthedConnection, method: string, params: unknown): void;
}

// Frame-level `_meta` next to `result` (where the browser SDK reads it), attached to a result
// object by the handler and written by the core.
const frameMeta = new WeakMap<object, Record<string, unknown>>();

export function withFrameMeta<R extends object>(result: R, meta: Record<string, unknown>): R {
  frameMeta.set(result, meta);
  return result;
}

export function frameMetaOf(result: unknown): Record<string, unknown> | undefined {
  return typeof result === 'object' && result !== null ? frameMeta.get(result) : undefined;
}

/** A JSON-RPC error answer. Thrown by handlers; the core turns it into the error frame. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
  }
}

/** An error after which the socket is closed: the answer goes out first, then the close frame. */
export class ClosingRpcError extends RpcError {
  constructor(code: number, message: string, data: unknown, readonly closeCode: number) {
    super(code, message, data);
  }
}
