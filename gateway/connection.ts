// One WebSocket: the challenge, frame checks, and writes through the fault switches. Bad frames
// are answered with JSON-RPC errors and never affect other sockets.

import { randomBytes, randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import { ErrorCode } from '../protocol/errors.ts';
import { MAX_FRAME_BYTES, type RpcId } from '../protocol/frames.ts';
import type { AuthedConnection, Connection, ConnectionKind } from './context.ts';
import type { Faults } from './faults.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './frame-limits.ts';

export interface Request {
  id: RpcId;
  method: string;
  params: Record<string, unknown>;
}

export interface ConnectionHooks {
  onRequest(conn: GatewayConnection, req: Request): void;
  onNotification(conn: GatewayConnection, method: string, params: unknown): void;
  onClose(conn: GatewayConnection, code: number, reason: string): void;
  /** The socket had `bytes` queued for the client when another frame was due; it is terminated. */
  onOverflow(conn: GatewayConnection, bytes: number): void;
}

/**
 * Time one socket's frames may take in one turn of the event loop before the other sockets get
 * theirs. ws hands over every frame of a TCP read at once; without turns, a client that writes
 * 1,000 frames in one go holds the (single-threaded) gateway for all of them while every other
 * socket's request waits. Order within a socket is unchanged.
 */
export const TURN_MS = 2;
/** Frames waiting for their turn at which the socket stops being read (TCP pushes back). */
const PAUSE_AT = 512;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Longest string id echoed back; SDK ids are `rpc-<16 hex>` or `pre-<method>`. */
const MAX_ID_CHARS = 256;

function validId(id: unknown): id is RpcId {
  return (typeof id === 'string' && id.length <= MAX_ID_CHARS) || (typeof id === 'number' && Number.isFinite(id));
}

/** Slot isolation key: slot_id up to the first '/', ':' or space (spec §3.4). */
export function slotKeyOf(slotId: string): string {
  return slotId.split(/[/: ]/, 1)[0] ?? slotId;
}

/** Whether auth.connect succeeded on `c`. */
export function isAuthed(c: GatewayConnection): c is GatewayConnection & AuthedConnection {
  return c.aid !== null && c.kind !== 'pending';
}

/** One log line's view of a connection: id, kind, identity and peer address. */
export function describeConnection(c: GatewayConnection): string {
  return `${c.id} ${c.kind} aid=${c.aid ?? '-'} device=${c.deviceId || '-'} slot=${c.slotId || '-'} from=${c.remote}`;
}

export class GatewayConnection implements Connection {
  readonly id = 'conn_' + randomUUID().replace(/-/g, '').slice(0, 16);
  readonly challengeNonce = randomBytes(16).toString('hex');
  readonly connectedAt = Date.now();
  kind: ConnectionKind = 'pending';
  aid: string | null = null;
  deviceId = '';
  slotId = '';
  slotKey = '';
  closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private idle = { ms: 0, code: 0 };
  /** Frames received and not handled yet (see TURN_MS), and the time this turn's frames took. */
  private waiting: (() => void)[] = [];
  private turnSpent = 0;
  private turnQueued = false;
  /** Heard from (a frame or a pong) since the last liveness check. */
  private heard = true;

  /** `socket`: the stream under `ws` (the upgraded request's), whose output writeRaw batches. */
  constructor(
    private readonly ws: WebSocket,
    readonly remote: string,
    private readonly faults: Faults,
    private readonly hooks: ConnectionHooks,
    private readonly socket: Pick<Writable, 'cork' | 'uncork' | 'writableCorked'>,
    private readonly maxBufferedBytes = Infinity,
  ) {
    ws.on('message', (data, isBinary) => {
      this.heard = true;
      this.admit(() => this.faults.inbound(() => this.receive(data, isBinary)));
    });
    ws.on('pong', () => { this.heard = true; });
    ws.on('close', (code, reason) => this.finish(code, reason.toString('utf8')));
    ws.on('error', () => this.finish(1006, 'socket error'));
  }

  bind(aid: string, kind: 'long' | 'short', deviceId: string, slotId: string): void {
    this.aid = aid;
    this.kind = kind;
    this.deviceId = deviceId;
    this.slotId = slotId;
    this.slotKey = slotKeyOf(slotId);
  }

  send(frame: object): void {
    const text = JSON.stringify(frame);
    this.faults.outbound(() => this.writeRaw(text));
  }

  /**
   * Writes text as-is, bypassing the fault switches (admin inject). The frames written in one tick
   * (the answers to a turn's frames, a burst's pushes) leave in one write to the socket, not one
   * system call each: the socket is corked at the first and uncorked on the next tick. Their order
   * is unchanged. (ws corks and uncorks around each frame within one call, so a cork still held
   * here is this tick's.)
   *
   * A client that stops reading would make every answer queue here without end. So when the bytes
   * still queued for it (ws.bufferedAmount: the socket's writable buffer, corked frames included,
   * plus what ws holds back) exceed `maxBufferedBytes` as a new frame is due, the socket is
   * terminated instead: nothing is lost, stored rows stay until acked and the client pulls again
   * after reconnecting. The limit is checked before the write, so one answer larger than it still
   * goes out when nothing else waits.
   */
  writeRaw(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.maxBufferedBytes) {
      this.waiting.length = 0; // their answers could not be sent either
      this.hooks.onOverflow(this, buffered);
      this.ws.terminate(); // 'close' follows: finish() and onClose as for any close
      return;
    }
    if (this.socket.writableCorked === 0) {
      this.socket.cork();
      process.nextTick(() => this.socket.uncork());
    }
    this.ws.send(text);
  }

  close(code: number, reason: string): void {
    this.faults.outbound(() => {
      if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    });
  }

  /**
   * One liveness round: false when nothing was heard since the last round (the peer is gone without
   * a FIN: a sleeping laptop, a dropped network), else pings it for the next round. Browsers and
   * ws answer pings by themselves, so this needs nothing from the client.
   */
  checkAlive(): boolean {
    if (!this.heard) return false;
    this.heard = false;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
    return true;
  }

  /** Drops the TCP connection without a close frame (admin drop). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Closes the socket if it stays silent for `ms` (short connections, spec §3.4). */
  setIdleTimeout(ms: number, code: number): void {
    clearTimeout(this.idleTimer);
    if (ms <= 0 || this.closed) return;
    this.idleTimer = setTimeout(() => this.close(code, 'idle timeout'), ms);
    this.idleTimer.unref();
    this.idle = { ms, code };
  }

  reply(id: RpcId | null, result: unknown, meta?: Record<string, unknown>): void {
    this.send(meta ? { jsonrpc: '2.0', id, result, _meta: meta } : { jsonrpc: '2.0', id, result });
  }

  replyError(id: RpcId | null, code: number, message: string, data?: unknown): void {
    this.send({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
  }

  /** Handles a frame now if this turn has time left and nothing waits before it, else queues it. */
  private admit(work: () => void): void {
    this.queueTurn();
    if (this.waiting.length === 0 && this.turnSpent < TURN_MS) {
      this.timed(work);
      return;
    }
    this.waiting.push(work);
    if (this.waiting.length >= PAUSE_AT && !this.ws.isPaused) this.ws.pause();
  }

  /** The next turn (after the other sockets' I/O): a fresh budget, spent on the waiting frames first. */
  private queueTurn(): void {
    if (this.turnQueued) return;
    this.turnQueued = true;
    setImmediate(() => {
      this.turnQueued = false;
      this.turnSpent = 0;
      this.handleWaiting(TURN_MS);
      if (this.waiting.length > 0) this.queueTurn();
      else if (this.ws.isPaused && !this.closed) this.ws.resume();
    });
  }

  /** Handles waiting frames, one at a time from the front, until `ms` are spent (a fresh turn takes at least one). */
  private handleWaiting(ms: number): void {
    while (this.waiting.length > 0 && this.turnSpent < ms) this.timed(this.waiting.shift()!);
  }

  private timed(work: () => void): void {
    const t = performance.now();
    try {
      work();
    } finally {
      this.turnSpent += Math.max(performance.now() - t, 0.001);
    }
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (this.idle.ms > 0) this.setIdleTimeout(this.idle.ms, this.idle.code);
    if (isBinary) {
      this.replyError(null, ErrorCode.InvalidRequest, 'invalid request: binary frames are not supported, send JSON text frames');
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const bytes = Buffer.byteLength(text, 'utf8');
    // Depth is checked on the raw text, before JSON.parse and before any handler: the answer to a
    // too-deep frame quotes nothing of it. Size is checked once the id is known (ws already cut
    // anything over the hard limit), so the caller can match the refusal.
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      this.replyError(null, ErrorCode.InvalidRequest, `frame too deep: objects and arrays nest at most ${MAX_JSON_DEPTH} levels`, { max_depth: MAX_JSON_DEPTH });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.replyError(null, ErrorCode.ParseError, 'parse error: the frame is not valid JSON');
      return;
    }
    const id = isRecord(value) && validId(value.id) ? value.id : null;
    if (bytes > MAX_FRAME_BYTES) {
      this.replyError(id, ErrorCode.InvalidRequest, `frame too large: ${bytes} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`, { limit: MAX_FRAME_BYTES, size: bytes });
      return;
    }
    if (Array.isArray(value)) {
      this.replyError(null, ErrorCode.InvalidRequest, 'invalid request: batch requests are not supported');
      return;
    }
    if (!isRecord(value) || value.jsonrpc !== '2.0' || typeof value.method !== 'string' || value.method === '') {
      this.replyError(id, ErrorCode.InvalidRequest, 'invalid request: expected {"jsonrpc":"2.0","method":<string>,...}');
      return;
    }
    if (!('id' in value)) {
      this.hooks.onNotification(this, value.method, value.params);
      return;
    }
    if (id === null) {
      this.replyError(null, ErrorCode.InvalidRequest, `invalid request: id must be a string of at most ${MAX_ID_CHARS} characters or a finite number`);
      return;
    }
    const params = value.params ?? {};
    if (!isRecord(params)) {
      this.replyError(id, ErrorCode.InvalidParams, 'invalid params: params must be an object');
      return;
    }
    this.hooks.onRequest(this, { id, method: value.method, params });
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    // What arrived before the close is handled before it, as if there were no turns.
    this.handleWaiting(Infinity);
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.hooks.onClose(this, code, reason);
  }
}
