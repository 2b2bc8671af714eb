// The long-connection JSON-RPC transport over one WebSocket (spec §1.1): request ids, per-call
// deadlines and cancellation, event routing. Nothing from the network can throw out of here: a
// bad frame is reported and dropped, and every pending call settles, at the latest on close.

import { utf8 } from '../../protocol/bytes.ts';
import { AunError, ConnectionLostError, TimeoutError, ValidationError, errorFromRpc } from '../../protocol/errors.ts';
import {
  MAX_FRAME_BYTES, isErrorFrame, jsonText, newRpcId, type ChallengeParams, type ResponseFrame,
} from '../../protocol/frames.ts';
import { type MethodName, type ParamsOf, type ResultOf } from '../../protocol/methods.ts';
import { DEFAULT_DEADLINE_MS } from '../../protocol/deadline.ts';
import { systemTimers, type Timers, type WebSocketCtor } from '../net/io.ts';
import { openChallenged, parseServerFrame } from '../net/socket.ts';
import { systemMonotonic, type Monotonic } from './wake.ts';

/** Open + challenge; the gateway sends the challenge as soon as the socket opens. */
export const OPEN_TIMEOUT_MS = 10_000;
const OPEN = 1;
const SAMPLE_CHARS = 200;

/** A call cancelled through its AbortSignal; named like the DOM's so generic checks work. */
export class CallAbortedError extends AunError {
  override name = 'AbortError';
}

export interface BadFrameReport {
  reason: string;
  /** The start of the offending frame, for logs and the inspector. */
  sample: string;
}

export interface TransportHandlers {
  onEvent?(name: string, params: unknown): void;
  onBadFrame?(report: BadFrameReport): void;
  /** The socket closed by itself (not through close()). Pending calls are already rejected. */
  onClose?(code: number, reason: string): void;
}

export interface TransportOptions extends TransportHandlers {
  WebSocketImpl?: WebSocketCtor;
  timers?: Timers;
  callTimeoutMs?: number;
  openTimeoutMs?: number;
  /** Cancels the opening. */
  signal?: AbortSignal;
  /** The clock of `lastReceivedAt`. */
  monotonic?: Monotonic;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  method: string;
  settle(frame: ResponseFrame | null, error?: AunError): void;
}

export class Transport {
  private readonly pending = new Map<string, Pending>();
  private readonly timers: Timers;
  private readonly monotonic: Monotonic;
  private receivedAt: number;
  /** Set once the socket is gone, so later calls can say why. */
  private closedWith: { code: number; reason: string } | null = null;

  private constructor(
    private readonly socket: WebSocket,
    readonly challenge: ChallengeParams,
    private readonly opts: TransportOptions,
  ) {
    this.timers = opts.timers ?? systemTimers;
    this.monotonic = opts.monotonic ?? systemMonotonic;
    this.receivedAt = this.monotonic();
  }

  /** Opens the socket and resolves once the gateway's challenge arrived. */
  static async open(url: string, opts: TransportOptions = {}): Promise<Transport> {
    const { socket, challenge, backlog } = await openChallenged(url, {
      WebSocketImpl: opts.WebSocketImpl, timers: opts.timers, timeoutMs: opts.openTimeoutMs ?? OPEN_TIMEOUT_MS, signal: opts.signal,
    });
    const transport = new Transport(socket, challenge, opts);
    socket.onmessage = (ev: MessageEvent) => transport.receive(ev.data);
    socket.onclose = (ev: CloseEvent) => transport.lost(ev.code, ev.reason, true);
    for (const data of backlog) transport.receive(data);
    return transport;
  }

  get isOpen(): boolean {
    return this.closedWith === null && this.socket.readyState === OPEN;
  }

  /** Throws the ConnectionLostError (with the close code) if the socket is gone. */
  ensureOpen(what: string): void {
    if (!this.isOpen) throw this.lostError(what);
  }

  /** Monotonic time of the last frame received, well-formed or not (the challenge at first). */
  get lastReceivedAt(): number {
    return this.receivedAt;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** A JSON-RPC notification (no id, no answer): false when the socket is not open, or it is too big or not JSON. */
  notify(method: string, params: object): boolean {
    if (!this.isOpen) return false;
    try {
      const text = JSON.stringify({ jsonrpc: '2.0', method, params });
      if (text.length * 3 > MAX_FRAME_BYTES && utf8(text).length > MAX_FRAME_BYTES) return false;
      this.socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  call<M extends MethodName>(method: M, params: ParamsOf<M>, opts: CallOptions = {}): Promise<ResultOf<M>> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new CallAbortedError(`${method} was cancelled before it was sent`));
      if (!this.isOpen) return reject(this.lostError(method));
      const id = newRpcId();
      // Params JSON cannot write (a BigInt) reject the call with a ValidationError; nothing is sent.
      const text = jsonText({ jsonrpc: '2.0', id, method, params }, `${method}: the params`);
      // A UTF-16 unit never takes more than 3 UTF-8 bytes, so most frames skip the encode.
      const bytes = text.length * 3 <= MAX_FRAME_BYTES ? 0 : utf8(text).length;
      if (bytes > MAX_FRAME_BYTES) {
        return reject(new ValidationError(`${method}: the request is ${bytes} bytes, over the ${MAX_FRAME_BYTES}-byte frame limit`));
      }
      const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs ?? DEFAULT_DEADLINE_MS;
      const onAbort = () => settle(null, new CallAbortedError(`${method} was cancelled`));
      const timer = this.timers.setTimeout(
        () => settle(null, new TimeoutError(`${method}: no answer within ${timeoutMs} ms`, undefined, undefined, true)),
        timeoutMs,
      );
      const settle = (frame: ResponseFrame | null, error?: AunError) => {
        // After this the id is unknown, so a late answer is dropped in receive().
        if (!this.pending.delete(id)) return;
        this.timers.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else if (frame && isErrorFrame(frame)) reject(errorFromRpc(frame.error));
        else resolve((frame as { result: ResultOf<M> }).result);
      };
      this.pending.set(id, { method, settle });
      opts.signal?.addEventListener('abort', onAbort);
      try {
        this.socket.send(text);
      } catch (err) {
        settle(null, new ConnectionLostError(`${method}: send failed: ${(err as Error).message}`, undefined, undefined, true));
      }
    });
  }

  /** Closes from our side: pending calls reject with ConnectionLostError; onClose is not called. */
  close(code = 1000, reason = 'closed by client'): void {
    if (this.closedWith) return;
    this.lost(code, reason, false);
    try {
      this.socket.close(code, reason);
    } catch {
      // An invalid code or a socket that is already gone: it is closed either way.
    }
  }

  private lost(code: number, reason: string, remote: boolean): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.socket.onmessage = this.socket.onclose = null;
    for (const p of [...this.pending.values()]) p.settle(null, this.lostError(p.method));
    if (remote) this.opts.onClose?.(code, reason);
  }

  /** ConnectionLostError carrying the close code (and reason) when the socket is gone. */
  private lostError(method: string): ConnectionLostError {
    const closed = this.closedWith;
    if (!closed) return new ConnectionLostError(`${method}: the connection is not open`, undefined, undefined, true);
    const why = `code ${closed.code}${closed.reason ? `: ${closed.reason}` : ''}`;
    return new ConnectionLostError(`${method}: connection closed (${why})`, closed.code, { closeCode: closed.code, reason: closed.reason }, true);
  }

  private receive(data: unknown): void {
    this.receivedAt = this.monotonic();
    try {
      const parsed = parseServerFrame(data);
      if (!parsed.ok) return this.bad(parsed.reason, data);
      const { frame } = parsed;
      switch (frame.kind) {
        case 'response': {
          const id = frame.frame.id;
          // Unknown ids are answers to calls that timed out or were cancelled: dropped.
          if (typeof id === 'string') this.pending.get(id)?.settle(frame.frame);
          return;
        }
        case 'event':
          this.opts.onEvent?.(frame.name, frame.frame.params);
          return;
        case 'challenge':
          return this.bad('a second challenge on an open connection', data);
        case 'notification':
          return this.bad(`unknown notification ${frame.frame.method}`, data);
      }
    } catch (err) {
      this.bad(`a frame handler threw: ${(err as Error).message}`, data);
    }
  }

  private bad(reason: string, data: unknown): void {
    const sample = typeof data === 'string' ? data.slice(0, SAMPLE_CHARS) : `<${typeof data}>`;
    try {
      this.opts.onBadFrame?.({ reason, sample });
    } catch {
      // Reporting is best effort; the frame is dropped either way.
    }
  }
}
