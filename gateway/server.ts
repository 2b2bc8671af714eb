// The dev gateway: one HTTP server whose upgrades become AUN WebSockets. This file wires the
// pieces (database, PKI, tokens, auth, services, connections) and routes every request.

import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';
import { type EventMap, type EventName } from '../protocol/events.ts';
import { isMethodName, type ConnectParams, type ConnectResult, type MethodName } from '../protocol/methods.ts';
import { GatewayConnection, describeConnection, isAuthed, slotKeyOf, type Request } from './connection.ts';
import {
  ClosingRpcError, PROTOCOL_VERSION, RpcError, frameMetaOf, type AuthedConnection, type Connection, type GatewayConfig,
  type GatewayContext, type HandlerTable, type Service,
} from './context.ts';
import { MEMORY, openDatabase } from './db.ts';
import { Faults } from './faults.ts';
import { createHttpHandler, type AdminApi, type GatewayStats } from './http.ts';
import { loopbackHosts, newAdminToken, writeAdminToken } from './admin-guard.ts';
import { loadPki } from './pki.ts';
import { quote } from './frame-limits.ts';
import { Revocation } from './revocation.ts';
import { createAuthService, isPreAuthMethod, type CertificateHooks } from './services/auth.ts';
import { createConnectService } from './services/connect.ts';
import { createGroupService } from './services/group.ts';
import { createMessageService } from './services/message.ts';
import { createPushService } from './services/push.ts';
import { DEFAULT_PUSH_SETTINGS, type PushSettings } from './push-aggregator.ts';
import { verifyClientSignature } from './sig.ts';
import { TokenService } from './tokens.ts';

export interface GatewayOptions extends Partial<GatewayConfig> {
  port?: number;
  host?: string;
  /** Directory for gateway.sqlite, or ':memory:'. */
  dataDir?: string;
  /** One line per connection event; silent when absent. */
  log?: (line: string) => void;
  /** Clock override for tests, ms. */
  now?: () => number;
  /**
   * Serve HTTPS and WSS (same port) with a server certificate for localhost, 127.0.0.1, ::1 and
   * `host`, issued by a TLS CA under the gateway's root. Off: plain HTTP and WS.
   */
  tls?: boolean;
  /**
   * Serve the admin / fault-injection API on /admin/*, guarded by a random token made at each
   * start (see `Gateway.adminToken`; also written to `<dataDir>/admin-token`). Off: /admin/* is 404.
   */
  admin?: boolean;
  /** AIDs allowed to act as push agents (spec push.md §3); empty or absent = offline push off. */
  pushAgents?: string[];
  /** Aggregator timings and limits; defaults are the spec's (tests shrink them). */
  push?: Partial<PushSettings>;
}

/** How a client trusts a gateway started with `tls: true`. */
export interface GatewayTls {
  /** The root to trust (the gateway's only root: the same as `rootPem`). */
  rootPem: string;
  /** The TLS CA under the root that issued the server certificate. */
  caPem: string;
  certPem: string;
  /** base64 SHA-256 of the server certificate's SPKI, for Chromium's --ignore-certificate-errors-spki-list. */
  spkiSha256: string;
}

export interface Gateway {
  /** ws://host:port/ws, or wss:// with `tls` */
  readonly url: string;
  /** http://host:port, or https:// with `tls` */
  readonly httpUrl: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly rootPem: string;
  /** Null unless started with `tls: true`. */
  readonly tls: GatewayTls | null;
  /** The admin API's bearer token for this start; null when the admin API is off. */
  readonly adminToken: string | null;
  /** Where the token was written (`<dataDir>/admin-token`); null when off or for `:memory:`. */
  readonly adminTokenPath: string | null;
  stats(): GatewayStats;
  close(): Promise<void>;
}

export const DEFAULT_CONFIG: GatewayConfig = {
  issuer: 'aun.local',
  tokenTtl: 3600,
  refreshTtl: 30 * 86_400,
  heartbeatInterval: 30,
  authDeadlineMs: 30_000,
  sendMaxAgeMs: 86_400_000,
  sendMaxFutureMs: 600_000,
  signatureSkew: 300,
  // Above any single answer: a pull of 50 rows of up to 1 MiB each is about 50 MiB.
  maxBufferedBytes: 64 * 1024 * 1024,
  maxThoughtBytes: 64 * 1024 * 1024,
  // The SDKs ping every 30 s (meta.ping): a live client is heard from at least that often anyway.
  livenessMs: 30_000,
};

/** Frames above this are cut off by ws itself (close 1009); below it we answer with an error. */
const HARD_FRAME_LIMIT = 8 * 1024 * 1024;

/** Error messages and error data are cut to these sizes, whatever a handler put in them. */
const MAX_ERROR_MESSAGE_CHARS = 512;
const MAX_ERROR_DATA_BYTES = 4096;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Error data as given when it is small and serialisable, else a note that it was dropped. */
function boundedData(data: unknown): unknown {
  if (data === undefined) return undefined;
  try {
    const text = JSON.stringify(data);
    if (text !== undefined && text.length <= MAX_ERROR_DATA_BYTES) return data;
  } catch {
    // falls through: unserialisable data is dropped like oversized data
  }
  return { omitted: `error data over ${MAX_ERROR_DATA_BYTES} bytes` };
}

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const config: GatewayConfig = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof GatewayConfig)[]) {
    if (options[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = options[key];
  }
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const dataDir = options.dataDir ?? MEMORY;
  const db = openDatabase(dataDir);
  const adminToken = options.admin ? newAdminToken() : null;
  const adminTokenPath = adminToken !== null && dataDir !== MEMORY ? writeAdminToken(dataDir, adminToken) : null;
  const pki = await loadPki(db, config.issuer, undefined, now);
  const tokens = new TokenService(db, pki.tokenKey, pki.tokenKid, config.issuer, config.tokenTtl, config.refreshTtl);
  const revocation = new Revocation(db, [new X509Certificate(pki.authCertPem).serialNumber], now);
  // The one way certificates are issued and revoked after start, for the auth and group services
  // alike: an issued one is known to OCSP at once, whether or not it lands in a new row (a
  // renewal, a rekey or a group's transfer replaces one in place).
  const certificates: CertificateHooks = {
    isRevoked: (serial) => revocation.isRevoked(serial),
    async issue(aid, spkiDer) {
      const pem = await pki.issueAgent(aid, spkiDer);
      const serial = new X509Certificate(pem).serialNumber.toLowerCase();
      revocation.noteIssued(serial);
      return { pem, serial };
    },
    revoke: (serial) => void revocation.revoke(serial),
  };
  const auth = createAuthService(db, pki, tokens, config.issuer, now, certificates);
  const faults = new Faults();
  const connections = new Set<GatewayConnection>();
  const counters = { messages_stored: 0 };

  const longOf = (aid: string, deviceId?: string): AuthedConnection[] => {
    const out: AuthedConnection[] = [];
    for (const c of connections) {
      if (isAuthed(c) && !c.closed && c.kind === 'long' && c.aid === aid && (deviceId === undefined || c.deviceId === deviceId)) out.push(c);
    }
    return out;
  };

  const ctx: GatewayContext = {
    db,
    config,
    now,
    agent: auth.agent,
    caChain: () => [pki.issuerPem, pki.rootPem],
    knownDevices: auth.knownDevices,
    longConnections: longOf,
    isOnline: (aid) => longOf(aid).length > 0,
    push<E extends EventName>(targets: Iterable<Connection>, event: E, params: EventMap[E]) {
      const frame = { jsonrpc: '2.0', method: `event/${event}`, params };
      for (const t of targets) t.send(frame);
    },
    issueCert: certificates.issue,
    revokeCert: certificates.revoke,
    count(_counter, by = 1) {
      counters.messages_stored += by;
    },
    messageStored: (note) => push.messageStored(note),
  };

  const push = createPushService(ctx, options.pushAgents ?? [], { ...DEFAULT_PUSH_SETTINGS, ...options.push });
  const services: Service[] = [createMessageService(ctx), createGroupService(ctx), push];
  const handlers: HandlerTable = Object.assign({}, ...services.map((s) => s.handlers)) as HandlerTable;

  // The reference SDK's close() sends it and ignores the answer. It ends this connection only:
  // tokens stay valid, as reference tabs share them (reference-sdk §8); the socket closes after the answer.
  handlers['auth.logout'] = () => ({ success: true });
  handlers['meta.ping'] = () => ({ pong: true, timestamp: Math.floor(now() / 1000), heartbeat_interval: config.heartbeatInterval });
  handlers['meta.status'] = (_p, conn) => ({
    mode: 'gateway', aid: conn.aid, role: 'agent', connected_at: conn.connectedAt,
    protocol_version: PROTOCOL_VERSION, device_id: conn.deviceId, slot_id: conn.slotId,
  });

  const connector = createConnectService({
    config, now, log, auth, tokens, connections, longConnections: longOf, push: ctx.push, services,
  });

  async function handle(conn: GatewayConnection, req: Request): Promise<void> {
    const { id, method, params } = req;
    try {
      if (method === 'auth.connect') {
        connector.handle(conn, id, params as unknown as ConnectParams);
        return;
      }
      if (!isMethodName(method)) throw new RpcError(ErrorCode.MethodNotFound, `method not found: ${quote(method)}`);
      if (isPreAuthMethod(method)) {
        const handler = auth.handlers[method] as (p: unknown, c: Connection) => unknown;
        conn.reply(id, await handler(params, conn));
        return;
      }
      const handler = handlers[method as MethodName] as ((p: unknown, c: AuthedConnection, x: GatewayContext) => unknown) | undefined;
      if (!handler) throw new RpcError(ErrorCode.MethodNotFound, `method not found: ${method}`);
      if (!isAuthed(conn)) throw new RpcError(ErrorCode.ConnectRequired, `auth.connect required before ${method}`);
      if (params.client_signature !== undefined) {
        verifyClientSignature(method, params, auth.agent(conn.aid)!, Math.floor(now() / 1000), config.signatureSkew);
      }
      const result = await handler(params, conn, ctx);
      conn.reply(id, result, frameMetaOf(result));
      if (method === 'auth.logout') conn.close(CloseCode.Normal, 'logged out');
    } catch (err) {
      if (err instanceof RpcError) {
        conn.replyError(id, err.code, clip(err.message, MAX_ERROR_MESSAGE_CHARS), boundedData(err.data));
        if (err instanceof ClosingRpcError) conn.close(err.closeCode, err.message);
      } else {
        log(`error ${quote(method)} on ${conn.id}: ${(err as Error).stack ?? String(err)}`);
        conn.replyError(id, ErrorCode.Internal, clip(`internal error in ${quote(method)}: ${(err as Error).message}`, MAX_ERROR_MESSAGE_CHARS));
      }
    }
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: HARD_FRAME_LIMIT });
  // A paused gateway stands for a stopped process: it checks nothing either.
  const liveness = config.livenessMs > 0 ? setInterval(() => {
    if (faults.isPaused) return;
    for (const c of connections) {
      if (c.checkAlive()) continue;
      log(`unresponsive ${describeConnection(c)}: no frame or pong in ${config.livenessMs} ms, terminated`);
      c.terminate();
    }
  }, config.livenessMs) : undefined;
  liveness?.unref();
  const secure = new WeakSet<GatewayConnection>();
  wss.on('connection', (ws, req) => {
    const conn = new GatewayConnection(ws, req.socket.remoteAddress ?? '?', faults, {
      // handle() answers every error itself; this catch is the last line that keeps one bad
      // frame from becoming an unhandled rejection, which would end the process.
      onRequest: (c, r) => handle(c, r).catch((err: unknown) => log(`unanswered ${quote(r.method)} on ${c.id}: ${(err as Error).stack ?? String(err)}`)),
      onNotification: (c, method, params) => {
        if (isAuthed(c)) for (const s of services) s.onNotification?.(c, method, params);
      },
      onClose: (c, code, reason) => {
        connections.delete(c);
        log(`close ${describeConnection(c)} code=${code}${reason ? ` reason=${reason}` : ''}`);
      },
      onOverflow: (c, bytes) => {
        log(`overflow ${describeConnection(c)} buffered=${bytes} limit=${config.maxBufferedBytes}: not reading, terminated`);
      },
    }, req.socket, config.maxBufferedBytes);
    connections.add(conn);
    if ((req.socket as TLSSocket).encrypted === true) secure.add(conn);
    log(`open ${describeConnection(conn)}`);
    connector.open(conn);
  });

  function stats(): GatewayStats {
    const list = [...connections];
    return {
      long_connections: list.filter((c) => c.kind === 'long').length,
      short_connections: list.filter((c) => c.kind === 'short').length,
      pending_connections: list.filter((c) => c.kind === 'pending').length,
      logins: auth.counts.logins,
      connects: connector.counts.connects,
      refreshes: auth.counts.refreshes,
      messages_stored: counters.messages_stored,
      connections: list.map((c) => ({ id: c.id, aid: c.aid, device_id: c.deviceId, slot_id: c.slotId, kind: c.kind, secure: secure.has(c) })),
    };
  }

  const admin: AdminApi = {
    stats,
    drop: () => connections.forEach((c) => c.terminate()),
    closeAll: (code, reason) => connections.forEach((c) => c.close(code, reason)),
    pause: () => faults.pause(),
    resume: () => faults.resume(),
    delay: (ms) => { faults.delayMs = ms; },
    inject(aid, frame) {
      let n = 0;
      for (const c of connections) if (c.aid === aid) { c.writeRaw(frame); n++; }
      return n;
    },
    revoke(serial) {
      if (!revocation.revoke(serial)) return false;
      // The sessions the certificate opened end now: their tokens would not connect again.
      for (const c of connections) {
        const a = c.aid === null ? null : auth.agent(c.aid);
        if (a && revocation.isRevoked(a.certSerial)) c.close(CloseCode.AuthFailed, 'certificate revoked');
      }
      return true;
    },
  };

  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const tls = options.tls ? await pki.serverTls([...new Set(['localhost', '127.0.0.1', '::1', host])]) : null;
  let port = 0;
  const scheme = tls ? 'wss' : 'ws';
  const hostPort = (h: string) => `${h.includes(':') ? `[${h}]` : h}:${port}`;
  const handler = createHttpHandler({
    issuer: config.issuer,
    chainPem: () => pki.issuerPem + '\n' + pki.rootPem,
    rootPem: pki.rootPem,
    agentCerts: (aid) => auth.certsOf(aid),
    // Discovery names the host the client used only when it is one of ours; any other Host
    // header (a rebound or forged name) gets the gateway's own address, never an echo.
    gatewayUrl(hostHeader) {
      const asked = (hostHeader ?? '').toLowerCase();
      const ours = loopbackHosts(port).add(hostPort(host));
      return `${scheme}://${ours.has(asked) ? asked : hostPort(host)}/ws`;
    },
    isPaused: () => faults.isPaused,
    admin: adminToken === null ? null : { api: admin, token: adminToken, port: () => port },
    revocation,
  });
  const server: Server = tls ? createHttpsServer({ cert: tls.certChainPem, key: tls.keyPem }, handler) : createServer(handler);
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws' && path !== '/') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `${scheme}://${hostPort(host)}/ws`,
    httpUrl: `${tls ? 'https' : 'http'}://${hostPort(host)}`,
    port,
    config,
    rootPem: pki.rootPem,
    tls: tls && { rootPem: pki.rootPem, caPem: tls.caPem, certPem: tls.certPem, spkiSha256: tls.spkiSha256 },
    adminToken,
    adminTokenPath,
    stats,
    async close() {
      clearInterval(liveness);
      for (const s of services) s.close?.();
      faults.resume();
      for (const c of connections) c.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      db.close();
    },
  };
}
