// One authenticated Gateway connection for one AID, owned by the worker: connect with the
// cheapest valid token, keep it alive (heartbeat), refresh tokens ahead of time, reconnect with
// jittered backoff, and stop for good when the gateway evicts us. It follows the browser's
// network state (no attempts while offline, one at once on `online`) and, after the worker did
// not run for a while (sleep, a frozen origin, a clock jump), checks everything it had armed.

import {
  AunError, AuthError, CertificateRevokedError, CloseCode, ClientSignatureError, ConnectionLostError,
  ErrorCode, IdentityConflictError, NO_RECONNECT_CLOSE_CODES, NotFoundError, PermissionError, SessionError,
  TimeoutError, ValidationError,
} from '../../protocol/errors.ts';
import { type GatewayDisconnectEvent } from '../../protocol/events.ts';
import { jsonForm } from '../../protocol/frames.ts';
import { METHODS, isMethodName, type MethodName, type ParamsOf, type ResultOf } from '../../protocol/methods.ts';
import { DEFAULT_DEADLINE_MS } from '../../protocol/deadline.ts';
import { httpBaseOf, resolveFetch, systemTimers, type FetchFn, type Timers, type WebSocketCtor } from '../net/io.ts';
import { checkOfferedCert, login, refreshTokens, type AuthContext, type Credentials } from '../auth/login.ts';
import { certFingerprint, signClientCall } from '../auth/sign.ts';
import type { TrustStore } from '../auth/trust.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { authenticate, type ClientIdentity } from './connect.ts';
import type { OfflinePushConfig } from './push-config.ts';
import { checkHealth } from './health.ts';
import { Heartbeat, HEARTBEAT_MIN_MS, PROBE_TIMEOUT_MS } from './heartbeat.ts';
import { StateMachine, type SessionState, type StateChange } from './state.ts';
import { TokenKeeper } from './token-keeper.ts';
import type { TokenCache } from './tokens.ts';
import { CallAbortedError, Transport, type BadFrameReport } from './transport.ts';
import { systemMonotonic, WakeDetector, type Monotonic, type Wake } from './wake.ts';

/** Close codes that mean another connection (or the server) took our place. */
const EVICTION_CODES: ReadonlySet<number> = new Set([CloseCode.Evicted, CloseCode.ServerKick]);
/** Errors a retry cannot fix: a wrong key, an unknown AID, an untrusted certificate, bad input. */
const TERMINAL_ERRORS = [AuthError, PermissionError, ValidationError, NotFoundError, IdentityConflictError, CertificateRevokedError, ClientSignatureError];

export interface GatewaySessionOptions {
  /** ws(s)://…/ws of the gateway. */
  url: string;
  credentials: Credentials;
  trust: TrustStore;
  tokens: TokenCache;
  deviceId: string;
  slotId?: string;
  /** Defaults to the http(s) origin of `url`. */
  httpBase?: string;
  WebSocketImpl?: WebSocketCtor;
  fetch?: FetchFn;
  timers?: Timers;
  /** Uniform in [0, 1), for the backoff jitter. */
  random?: () => number;
  backoff?: Omit<BackoffOptions, 'random'>;
  callTimeoutMs?: number;
  openTimeoutMs?: number;
  shortRpcTimeoutMs?: number;
  healthTimeoutMs?: number;
  /** Lower bound of the heartbeat interval (default 10 s); tests lower it. */
  heartbeatFloorMs?: number;
  /** Initial network state; the runtime keeps it current with setOnline(). */
  online?: boolean;
  /** The offline-push config to carry on every auth.connect (see push-config.ts). */
  push?: () => OfflinePushConfig | null;
  /** Monotonic clock (performance.now) for ping deadlines and the wake detector; tests inject one. */
  monotonic?: Monotonic;
  /** Period of the wake detector's tick (default 10 s); a gap over 2 × tick + 5 s is a wake. */
  wakeTickMs?: number;
  log?: (line: string) => void;
  /** The AID's certificate was replaced by one the gateway handed over at login: store it. */
  onCertificate?: (certPem: string) => void | Promise<void>;
}

export interface SessionCallOptions {
  /** Deadline for the whole call, including any wait for ready (default DEFAULT_DEADLINE_MS, 35 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Wait (up to the deadline) for a connecting session instead of failing at once. */
  waitReady?: boolean;
}

export interface SessionCounters {
  /** Full two-phase logins. */
  logins: number;
  /** Successful auth.refresh_token grants. */
  refreshes: number;
  /** Successful auth.connect handshakes. */
  connects: number;
  /** Handshakes after the first since start(): connections recovered. */
  reconnects: number;
  badFrames: number;
  /** Gaps in which the worker did not run (sleep, freeze, clock jump), each followed by a check-up. */
  wakes: number;
}

/** What the session adds to every state's detail. */
export interface SessionConditions {
  /** The browser's network state as last reported (setOnline); false: no connection attempts. */
  online: boolean;
  /** Wall-clock ms when the last wake was noticed; null if none since the session was made. */
  lastWakeAt: number | null;
}

export type SessionView = StateChange & { detail: SessionConditions };

export type SessionEventListener = (name: string, params: unknown) => void;

export class GatewaySession {
  readonly aid: string;
  private readonly opts: GatewaySessionOptions;
  private readonly timers: Timers;
  private readonly fetch: FetchFn;
  private readonly httpBase: string;
  private readonly who: ClientIdentity;
  private readonly machine: StateMachine;
  private readonly keeper: TokenKeeper;
  private readonly heartbeat: Heartbeat;
  private readonly wake: WakeDetector;
  private readonly counts: SessionCounters = { logins: 0, refreshes: 0, connects: 0, reconnects: 0, badFrames: 0, wakes: 0 };
  private readonly eventListeners = new Set<SessionEventListener>();
  private readonly badFrameListeners = new Set<(report: BadFrameReport) => void>();
  /** Bumped by start() and close(): async work from an older generation stops quietly. */
  private generation = 0;
  private transport: Transport | null = null;
  private retryTimer: unknown = undefined;
  private failures = 0;
  private connectedBefore = false;
  private online: boolean;
  private lastWakeAt: number | null = null;
  private readonly monotonic: Monotonic;
  private fingerprint: Promise<string> | undefined;
  /** Aborts a socket still waiting for its challenge when the session closes. */
  private opening: AbortController | null = null;

  constructor(opts: GatewaySessionOptions) {
    this.opts = opts;
    this.aid = opts.credentials.aid;
    this.timers = opts.timers ?? systemTimers;
    this.fetch = resolveFetch(opts.fetch);
    this.httpBase = opts.httpBase ?? httpBaseOf(opts.url);
    this.who = { deviceId: opts.deviceId, slotId: opts.slotId ?? 'default', ...(opts.push ? { push: opts.push } : {}) };
    this.online = opts.online ?? true;
    this.monotonic = opts.monotonic ?? systemMonotonic;
    this.machine = new StateMachine((err) => this.log(`state listener threw: ${(err as Error).message}`));
    const auth: AuthContext = {
      url: opts.url, trust: opts.trust, httpBase: this.httpBase, WebSocketImpl: opts.WebSocketImpl,
      timers: this.timers, timeoutMs: opts.shortRpcTimeoutMs,
    };
    this.keeper = new TokenKeeper({
      aid: this.aid,
      cache: opts.tokens,
      timers: this.timers,
      refresh: (input) => refreshTokens(input, auth),
      login: async () => {
        const result = await login(opts.credentials, auth);
        if (result.offeredCert !== undefined) await this.adoptCert(result.offeredCert, auth);
        return result;
      },
      counters: this.counts,
      log: (line) => this.log(line),
    });
    this.heartbeat = new Heartbeat({
      timers: this.timers,
      monotonic: this.monotonic,
      floorMs: opts.heartbeatFloorMs ?? HEARTBEAT_MIN_MS,
      ping: (timeoutMs) => this.requireTransport().call('meta.ping', {}, { timeoutMs }),
      lastReceivedAt: () => this.transport?.lastReceivedAt ?? -Infinity,
      onDead: (err, checkUp) => this.heartbeatFailed(err, checkUp),
    });
    this.wake = new WakeDetector({
      timers: this.timers,
      monotonic: this.monotonic,
      ...(opts.wakeTickMs ? { tickMs: opts.wakeTickMs } : {}),
      onWake: (wake) => this.woke(wake),
    });
    // Nothing is left to check once the session stopped for good.
    this.machine.onChange(({ state }) => {
      if (state === 'closed' || state === 'evicted') this.wake.stop();
    });
  }

  get state(): SessionState {
    return this.machine.state;
  }

  /** The current state with its detail, as listeners last saw it, plus the session's conditions. */
  get snapshot(): SessionView {
    const snap = this.machine.snapshot;
    return { ...snap, detail: { ...snap.detail, online: this.online, lastWakeAt: this.lastWakeAt } } as SessionView;
  }

  get counters(): Readonly<SessionCounters> {
    return { ...this.counts };
  }

  /** Connects; from `evicted` or `closed` this is an explicit takeover. No-op while running. */
  start(): void {
    if (this.state !== 'idle' && this.state !== 'evicted' && this.state !== 'closed') return;
    const generation = ++this.generation;
    this.failures = 0;
    this.connectedBefore = false;
    this.wake.start();
    void this.attempt(generation, false);
  }

  close(): void {
    if (this.state === 'closed') return;
    this.generation++;
    this.stopConnection('closed by client');
    this.machine.transition('closed', { code: CloseCode.Normal, reason: 'closed by client' });
  }

  /**
   * Skips the backoff wait and starts the backoff over (on `online`, after a wake); when ready,
   * checks the link with one short ping and reconnects at once if it fails. Nothing while offline.
   */
  reconnectNow(): void {
    if (this.state === 'ready') return this.heartbeat.verify(PROBE_TIMEOUT_MS);
    if (this.state !== 'backoff' || !this.online) return;
    this.timers.clearTimeout(this.retryTimer);
    this.failures = 0;
    void this.attempt(this.generation, true);
  }

  /**
   * Network state from the runtime (`online`/`offline` events). Offline: no attempts, and a live
   * socket is checked rather than trusted (`offline` is sometimes wrong, a dead socket often
   * silent); if it fails the session waits in backoff with no retry time until `online`.
   */
  setOnline(online: boolean): void {
    const was = this.online;
    this.online = online;
    // Even without an `offline` before it (missed while frozen), `online` is worth acting on.
    if (online) return this.reconnectNow();
    if (!was) return;
    if (this.state === 'ready') return this.heartbeat.verify(PROBE_TIMEOUT_MS);
    if (this.state === 'backoff') {
      this.timers.clearTimeout(this.retryTimer);
      const { detail } = this.machine.snapshot as Extract<StateChange, { state: 'backoff' }>;
      this.machine.transition('backoff', { ...detail, nextRetryAt: null });
    }
  }

  async call<M extends MethodName>(method: M, params: ParamsOf<M>, opts: SessionCallOptions = {}): Promise<ResultOf<M>> {
    if (!isMethodName(method)) throw new ValidationError(`unknown method ${String(method)}`, ErrorCode.MethodNotFound);
    const flags = METHODS[method];
    if (flags.internal || flags.preAuth) throw new PermissionError(`${method} is internal to the session and cannot be called on it`, ErrorCode.PermissionDenied);
    const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs ?? DEFAULT_DEADLINE_MS;
    const deadline = this.timers.now() + timeoutMs;
    if (this.state !== 'ready') {
      if (!opts.waitReady) throw this.notReady(method);
      await this.whenReady({ timeoutMs, signal: opts.signal });
    }
    const transport = this.requireTransport();
    // Signed as it goes on the wire: the signature's params_hash is over the params as JSON reads
    // them (stableJson), and a Date or NaN hashed as it is would not match what the gateway reads.
    const wire = flags.signed ? await this.sign(method, jsonForm(params, `${method}: the params`)) : params;
    try {
      return await transport.call(method, wire, { timeoutMs: Math.max(1, deadline - this.timers.now()), signal: opts.signal });
    } catch (err) {
      // A silent connection is cheaper to confirm with one ping than to tear down on a hunch.
      if (err instanceof TimeoutError && transport === this.transport) this.heartbeat.probe();
      throw err;
    }
  }

  /** Writes a notification frame (notify routing) when ready; false when it was not written. */
  notify(method: string, params: object): boolean {
    return this.state === 'ready' && this.transport !== null && this.transport.notify(method, params);
  }

  /** Resolves when ready; rejects at once from idle/evicted/closed, or at the deadline. */
  whenReady(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.state === 'idle' || this.state === 'evicted' || this.state === 'closed') return Promise.reject(this.notReady('whenReady'));
    const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs ?? DEFAULT_DEADLINE_MS;
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        off();
        this.timers.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(new CallAbortedError('waiting for the session was cancelled'));
      const timer = this.timers.setTimeout(() => finish(new TimeoutError(`${this.aid} did not become ready within ${timeoutMs} ms (state ${this.state})`, undefined, undefined, true)), timeoutMs);
      const off = this.machine.onChange(({ state }) => {
        if (state === 'ready') finish();
        else if (state === 'evicted' || state === 'closed') finish(this.notReady('whenReady'));
      });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort);
    });
  }

  onStateChange(listener: (change: StateChange) => void): () => void {
    return this.machine.onChange(listener);
  }

  /** Every `event/<name>` from the gateway, `gateway.disconnect` included. */
  onEvent(listener: SessionEventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onBadFrame(listener: (report: BadFrameReport) => void): () => void {
    this.badFrameListeners.add(listener);
    return () => this.badFrameListeners.delete(listener);
  }

  private async attempt(generation: number, probeHealth: boolean): Promise<void> {
    this.machine.transition('connecting', { attempt: this.failures });
    try {
      if (!this.online) throw new ConnectionLostError('the browser is offline: waiting for the network to come back', undefined, undefined, true);
      if (probeHealth) await checkHealth(this.httpBase, this.fetch, this.timers, this.opts.healthTimeoutMs);
      if (generation !== this.generation) return;
      this.opening = new AbortController();
      const transport: Transport = await Transport.open(this.opts.url, {
        signal: this.opening.signal,
        WebSocketImpl: this.opts.WebSocketImpl,
        timers: this.timers,
        callTimeoutMs: this.opts.callTimeoutMs,
        openTimeoutMs: this.opts.openTimeoutMs,
        // A replaced transport is always closed from our side first, which silences it, so these
        // only ever come from the current one (or, before auth, from nothing we act on).
        onEvent: (name, params) => this.handleEvent(name, params),
        onBadFrame: (report) => this.handleBadFrame(report),
        onClose: (code, reason) => this.handleClose(code, reason),
      });
      if (generation !== this.generation) return transport.close();
      this.opening = null;
      this.transport = transport;
      this.machine.transition('authenticating', { attempt: this.failures });
      const { hello, strategy } = await authenticate(transport, this.keeper, this.who, this.timers.now());
      if (generation !== this.generation) return;
      // The socket may have closed right after the answer, before this ran.
      transport.ensureOpen('auth.connect');
      this.failures = 0;
      this.counts.connects++;
      if (this.connectedBefore) this.counts.reconnects++;
      this.connectedBefore = true;
      this.heartbeat.start(hello.heartbeat_interval);
      void this.keeper.schedule();
      this.machine.transition('ready', { connectionId: hello.connection?.id ?? '', strategy, heartbeatMs: this.heartbeat.intervalMs });
    } catch (err) {
      if (generation !== this.generation) return;
      this.stopConnection('connect failed');
      this.connectFailed(err);
    }
  }

  private connectFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ConnectionLostError && NO_RECONNECT_CLOSE_CODES.has(err.code)) return this.stopForGood(err.code, message);
    if (TERMINAL_ERRORS.some((cls) => err instanceof cls)) {
      const code = (err as AunError).code;
      this.log(`${this.aid}: giving up: ${message}`);
      return this.machine.transition('closed', { code, reason: message });
    }
    this.scheduleRetry(message);
  }

  private scheduleRetry(error: string): void {
    this.failures++;
    const generation = this.generation;
    if (!this.online) {
      this.machine.transition('backoff', { attempt: this.failures, nextRetryAt: null, error });
      return;
    }
    const delay = backoffDelay(this.failures - 1, { ...this.opts.backoff, random: this.opts.random });
    this.retryTimer = this.timers.setTimeout(() => {
      if (generation === this.generation && this.state === 'backoff') void this.attempt(generation, true);
    }, delay);
    this.machine.transition('backoff', { attempt: this.failures, nextRetryAt: this.timers.now() + delay, error });
  }

  private handleEvent(name: string, params: unknown): void {
    if (!this.transport) return;
    for (const listener of this.eventListeners) {
      try {
        listener(name, params);
      } catch (err) {
        this.log(`event listener threw on ${name}: ${(err as Error).message}`);
      }
    }
    if (name === 'gateway.disconnect') {
      const kick = (params ?? {}) as Partial<GatewayDisconnectEvent>;
      const code = typeof kick.code === 'number' ? kick.code : CloseCode.ServerKick;
      this.stopForGood(code, typeof kick.reason === 'string' ? kick.reason : 'kicked by the gateway');
    }
  }

  private handleBadFrame(report: BadFrameReport): void {
    this.counts.badFrames++;
    this.log(`${this.aid}: ignored a bad frame (${report.reason})`);
    for (const listener of this.badFrameListeners) {
      try {
        listener(report);
      } catch (err) {
        this.log(`bad-frame listener threw: ${(err as Error).message}`);
      }
    }
  }

  /** The socket closed by itself. While authenticating, the pending handshake call reports it. */
  private handleClose(code: number, reason: string): void {
    if (this.state !== 'ready') return;
    this.stopConnection(reason);
    if (NO_RECONNECT_CLOSE_CODES.has(code)) return this.stopForGood(code, reason || `closed with code ${code}`);
    this.failures = 0;
    this.scheduleRetry(`connection lost (code ${code}${reason ? `: ${reason}` : ''})`);
  }

  /** A failed check-up (wake, network change) reconnects at once; missed heartbeats back off. */
  private heartbeatFailed(err: unknown, checkUp: boolean): void {
    if (this.state !== 'ready') return;
    this.stopConnection('heartbeat failed');
    this.failures = 0;
    const message = (err as Error).message;
    this.scheduleRetry(checkUp ? `check-up ping failed: ${message}` : `heartbeat failed twice: ${message}`);
    if (checkUp) this.reconnectNow();
  }

  /**
   * The worker did not run for `gapMs`: timers fired late or not at all, the socket may be dead
   * without a close, the token may have expired. Check instead of trusting: a ready connection
   * gets a short check-up ping and the refresh timer is re-armed by the wall clock; a pending
   * retry happens now, with the backoff started over.
   */
  private woke({ gapMs, at }: Wake): void {
    if (this.state === 'idle' || this.state === 'closed' || this.state === 'evicted') return;
    this.counts.wakes++;
    this.lastWakeAt = at;
    this.log(`${this.aid}: the worker did not run for ${Math.round(gapMs / 1000)} s (sleep, freeze or clock jump); checking the connection`);
    if (this.state === 'ready') {
      void this.keeper.schedule();
      return this.heartbeat.verify(PROBE_TIMEOUT_MS);
    }
    // connecting/authenticating: that attempt ends by its own deadlines; a retry starts from the shortest wait.
    this.failures = 0;
    this.reconnectNow();
  }

  /** Eviction (4015, 4009) or another no-reconnect code: nothing runs until start(). */
  private stopForGood(code: number, reason: string): void {
    this.generation++;
    this.stopConnection(reason);
    this.machine.transition(EVICTION_CODES.has(code) ? 'evicted' : 'closed', { code, reason });
  }

  /** Stops timers and closes the socket (1000: a browser sends no other code below 3000). */
  private stopConnection(reason: string): void {
    this.timers.clearTimeout(this.retryTimer);
    this.opening?.abort();
    this.opening = null;
    this.heartbeat.stop();
    this.keeper.cancel();
    const transport = this.transport;
    this.transport = null;
    // WebSocket.close() refuses reasons over 123 UTF-8 bytes; 40 UTF-16 units never exceed 120.
    transport?.close(CloseCode.Normal, reason.slice(0, 40));
  }

  private requireTransport(): Transport {
    if (!this.transport) throw new ConnectionLostError(`${this.aid}: no connection`, undefined, undefined, true);
    return this.transport;
  }

  private notReady(what: string): SessionError {
    const hint = this.state === 'idle' || this.state === 'closed' ? 'call start() first'
      : this.state === 'evicted' ? 'another connection took over this identity; start() takes it back'
        : 'retry when ready, or pass waitReady: true';
    return new SessionError(`${what}: session ${this.aid} is ${this.state}, not ready (${hint})`, ErrorCode.ConnectRequired, { state: this.state });
  }

  /**
   * A certificate the gateway handed over at login (spec §3.3: renewed past half its life, or
   * renewed by another device) replaces ours once checked (checkOfferedCert): later logins show it
   * and signed calls name it; `onCertificate` stores it. Refused, ours stays and the login goes on.
   */
  private async adoptCert(offered: string, auth: AuthContext): Promise<void> {
    const check = await checkOfferedCert(offered, this.opts.credentials, auth);
    if (!check.ok) {
      this.log(`login: the certificate the gateway handed over is not taken: ${check.why}`);
      return;
    }
    this.opts.credentials.certPem = offered;
    this.fingerprint = undefined;
    this.log('login: took the certificate the gateway handed over');
    try {
      await this.opts.onCertificate?.(offered);
    } catch (err) {
      this.log(`login: storing the new certificate failed (it is used until the worker restarts): ${(err as Error).message}`);
    }
  }

  /** Never sends a signed method unsigned: a signing failure fails the call (spec §10.2). */
  private async sign<P extends object>(method: string, params: P) {
    try {
      this.fingerprint ??= certFingerprint(this.opts.credentials.certPem);
      return await signClientCall(method, params, this.aid, await this.fingerprint, this.opts.credentials.privateKey, this.timers.now());
    } catch (err) {
      throw new ClientSignatureError(`${method}: cannot sign the call: ${(err as Error).message}`, ErrorCode.ClientSignatureInvalid);
    }
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }
}
