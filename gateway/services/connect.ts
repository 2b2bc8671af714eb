// The connect path of every socket: the challenge it opens with (spec §3.1), the deadline for
// authenticating, and auth.connect (spec §3.4–§3.7), which binds the socket to an AID, a device and
// a slot with the access token and the socket's challenge nonce; short connections are capped and
// idle-timed, a second long connection on the same (aid, device, slot key) evicts the older one.

import { CloseCode, ErrorCode } from '../../protocol/errors.ts';
import type { EventMap, EventName } from '../../protocol/events.ts';
import type { RpcId } from '../../protocol/frames.ts';
import type { ConnectParams, ConnectResult } from '../../protocol/methods.ts';
import { describeConnection, isAuthed, slotKeyOf, type GatewayConnection } from '../connection.ts';
import {
  ClosingRpcError, PROTOCOL_VERSION, RpcError,
  type AuthedConnection, type Connection, type GatewayConfig, type Service,
} from '../context.ts';
import { quote } from '../frame-limits.ts';
import type { TokenService } from '../tokens.ts';
import { DEVICE_ID_PATTERN, SLOT_ID_PATTERN, obj, str } from '../validate.ts';
import type { AuthService } from './auth.ts';
import { checkDeviceQuota } from './envelope-check.ts';

const MAX_SHORT_PER_SLOT = 10;
const DEFAULT_SHORT_TTL_MS = 30_000;

export interface ConnectDeps {
  config: GatewayConfig;
  now(): number;
  log(line: string): void;
  auth: AuthService;
  tokens: TokenService;
  /** Every open socket (short-connection capacity is counted over them). */
  connections: ReadonlySet<GatewayConnection>;
  /** Live authenticated long connections of an AID, optionally of one device. */
  longConnections(aid: string, deviceId?: string): AuthedConnection[];
  push<E extends EventName>(targets: Iterable<Connection>, event: E, params: EventMap[E]): void;
  /**
   * Told after auth.connect succeeded, before the answer goes out (push config), and after a long
   * connection authenticated (backlog hints, first-seen device work).
   */
  services: readonly Service[];
}

export interface ConnectService {
  /** Greets a new socket with its challenge and closes it if auth.connect has not succeeded in time. */
  open(conn: GatewayConnection): void;
  /** Answers one auth.connect request on `conn`; throws RpcError (or ClosingRpcError) on refusal. */
  handle(conn: GatewayConnection, id: RpcId, params: ConnectParams): void;
  /** Counter for /admin/stats: successful auth.connect calls. */
  counts: { connects: number };
}

/** The client's protocol range as the mismatch error repeats it: versions only, each quoted short. */
function clientRange(range: unknown): { min?: string; max?: string } | string {
  if (typeof range !== 'object' || range === null || Array.isArray(range)) return quote(range);
  const { min, max } = range as { min?: unknown; max?: unknown };
  return { ...(min !== undefined && { min: quote(min) }), ...(max !== undefined && { max: quote(max) }) };
}

function versionInRange(range: unknown): boolean {
  if (typeof range !== 'object' || range === null) return true;
  const { min, max } = range as { min?: unknown; max?: unknown };
  const n = (v: unknown, d: number) => (typeof v === 'string' || typeof v === 'number' ? Number(v) : d);
  return n(min, 0) <= Number(PROTOCOL_VERSION) && Number(PROTOCOL_VERSION) <= n(max, Infinity);
}

function stripPrivate(extra: unknown): Record<string, unknown> | undefined {
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) return undefined;
  return Object.fromEntries(Object.entries(extra).filter(([k]) => !k.startsWith('_')));
}

export function createConnectService(deps: ConnectDeps): ConnectService {
  const { config, now, log, auth, tokens, connections } = deps;
  const counts = { connects: 0 };

  function connect(conn: GatewayConnection, params: ConnectParams): ConnectResult {
    if (conn.aid !== null) throw new RpcError(ErrorCode.InvalidRequest, 'auth.connect already succeeded on this connection');
    if (params.nonce !== conn.challengeNonce) throw new RpcError(ErrorCode.ConnectBadNonce, 'invalid nonce: auth.connect must echo the challenge nonce of this connection');
    if (!versionInRange(params.protocol)) {
      throw new ClosingRpcError(ErrorCode.ProtocolVersionMismatch, 'protocol version mismatch', { server_range: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION }, client_range: clientRange(params.protocol) }, CloseCode.Normal);
    }
    const authBlock = obj(params, 'auth', {});
    const token = str(authBlock, 'token', { optional: true });
    if (authBlock.method !== 'kite_token' || !token) {
      throw new RpcError(ErrorCode.ConnectMissingParams, 'missing params: auth must be {"method":"kite_token","token":<access token>}');
    }
    const aid = tokens.verifyAccess(token, Math.floor(now() / 1000));
    const agent = aid === null ? null : auth.agent(aid);
    if (!aid || !agent) throw new RpcError(ErrorCode.ConnectAuthFailed, 'auth failed: access token invalid or expired');
    // An access token is a signed JWT, valid until it expires: the certificate is checked here.
    auth.requireUnrevoked(agent);
    const device = obj(params, 'device', { optional: true }) ?? {};
    const client = obj(params, 'client', { optional: true }) ?? {};
    const deviceId = str(device, 'id', { optional: true, pattern: DEVICE_ID_PATTERN }) ?? 'default';
    const slotId = str(client, 'slot_id', { optional: true, pattern: SLOT_ID_PATTERN }) ?? 'default';
    const options = obj(params, 'options', { optional: true }) ?? {};
    const kind = options.kind === 'short' ? 'short' : 'long';
    const mode = (obj(params, 'delivery_mode', { optional: true }) ?? {}).mode;
    if (mode !== undefined && mode !== 'fanout') {
      throw new RpcError(ErrorCode.InvalidParams, `delivery_mode ${quote(mode)} is not supported by the dev gateway: use fanout`);
    }
    // Every known device of an AID gets its own copy of each message to or from it: an AID that
    // connected with 100,000 device ids made each of its sends 100,000 rows.
    if (kind === 'long' && !auth.deviceKnown(aid, deviceId)) checkDeviceQuota(aid, deviceId, auth.deviceCount(aid), 'connections');
    if (kind === 'short') {
      const slotKey = slotKeyOf(slotId);
      const shorts = [...connections].filter((c) => c.kind === 'short' && c.aid === aid && c.deviceId === deviceId && c.slotKey === slotKey);
      if (shorts.length >= MAX_SHORT_PER_SLOT) {
        throw new ClosingRpcError(ErrorCode.Backpressure, `short connection capacity exceeded: at most ${MAX_SHORT_PER_SLOT} per device and slot`, undefined, CloseCode.ShortCapacityExceeded);
      }
      const ttl = typeof options.short_ttl_ms === 'number' && options.short_ttl_ms > 0 ? options.short_ttl_ms : DEFAULT_SHORT_TTL_MS;
      conn.setIdleTimeout(ttl, CloseCode.ShortIdleTimeout);
    }
    conn.bind(aid, kind, deviceId, slotId);
    if (kind === 'long') {
      for (const old of deps.longConnections(aid, deviceId)) {
        if (old === conn || old.slotKey !== conn.slotKey) continue;
        deps.push([old], 'gateway.disconnect', {
          code: CloseCode.Evicted,
          reason: 'long_connection_quota_exceeded',
          detail: {
            aid, device_id: deviceId, slot_id: old.slotId, quota_kind: 'aid_device_slot', limit: 1,
            evicted_by: { device_id: deviceId, extra_info: stripPrivate(params.extra_info) },
          },
        });
        old.close(CloseCode.Evicted, 'long_connection_quota_exceeded');
        log(`evict ${describeConnection(old as GatewayConnection)} by ${conn.id}`);
      }
    }
    counts.connects++;
    log(`auth ${describeConnection(conn)}`);
    return {
      status: 'ok',
      protocol: PROTOCOL_VERSION,
      server_time: now() / 1000,
      authenticated: true,
      identity: { aid, role: 'agent', module_id: 'gateway-client' },
      connection: { id: conn.id, device_id: deviceId, slot_id: slotId, kind },
      heartbeat_interval: config.heartbeatInterval,
      capabilities: { namespaces: ['auth', 'message', 'group', 'meta'], features: { e2ee: true, max_message_size: 1_048_576 } },
    };
  }

  return {
    counts,
    open(conn) {
      conn.send({
        jsonrpc: '2.0',
        method: 'challenge',
        params: {
          nonce: conn.challengeNonce,
          server: 'aun-worker-dev-gateway',
          protocol: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION },
          auth_methods: ['kite_token'],
          capabilities: {},
          server_time: now() / 1000,
        },
      });
      if (config.authDeadlineMs > 0) {
        setTimeout(() => {
          if (!conn.closed && conn.aid === null) conn.close(CloseCode.AuthTimeout, 'auth.connect not completed in time');
        }, config.authDeadlineMs).unref();
      }
    },
    handle(conn, id, params) {
      const result = connect(conn, params);
      if (isAuthed(conn)) for (const s of deps.services) s.onConnect?.(conn, params);
      conn.reply(id, result);
      if (result.connection.kind === 'long' && isAuthed(conn)) {
        const firstSeen = auth.touchDevice(conn.aid, conn.deviceId, now());
        for (const s of deps.services) s.onLongConnected?.(conn, firstSeen);
      }
    },
  };
}
