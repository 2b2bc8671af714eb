// Opening an AUN WebSocket: every socket, short or long, starts with the server's `challenge`
// (spec §3.1). Shared by the short pre-auth RPC and the long-connection transport.

import { AunError, ConnectionLostError, TimeoutError, ValidationError } from '../../protocol/errors.ts';
import { classifyServerFrame, type ChallengeParams, type IncomingFrame } from '../../protocol/frames.ts';
import { resolveWebSocket, systemTimers, type Timers, type WebSocketCtor } from './io.ts';

export type ParsedFrame = { ok: true; frame: IncomingFrame } | { ok: false; reason: string };

/** Parses one network frame; never throws, because a bad frame must not take a socket down. */
export function parseServerFrame(data: unknown): ParsedFrame {
  if (typeof data !== 'string') return { ok: false, reason: 'binary frame (AUN frames are JSON text)' };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const frame = classifyServerFrame(value);
  return frame ? { ok: true, frame } : { ok: false, reason: 'not a JSON-RPC response or notification' };
}

export interface ChallengedSocket {
  socket: WebSocket;
  challenge: ChallengeParams;
  /** Raw frames that arrived after the challenge before the caller took the socket over. */
  backlog: unknown[];
}

export interface OpenOptions {
  WebSocketImpl?: WebSocketCtor;
  timers?: Timers;
  /** Deadline for open + challenge. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Opens `url` and resolves once the challenge arrived; on failure the socket is closed. */
export function openChallenged(url: string, opts: OpenOptions): Promise<ChallengedSocket> {
  const timers = opts.timers ?? systemTimers;
  const Ctor = resolveWebSocket(opts.WebSocketImpl);
  return new Promise((resolve, reject) => {
    let socket: WebSocket;
    try {
      socket = new Ctor(url);
    } catch (err) {
      reject(new ValidationError(`cannot open ${url}: ${(err as Error).message}`));
      return;
    }
    let challenge: ChallengeParams | null = null;
    const backlog: unknown[] = [];
    let settled = false;
    const fail = (err: AunError) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // Closing a socket that never opened can throw in some implementations; it is gone anyway.
      }
      reject(err);
    };
    const onAbort = () => fail(new AunError(`opening ${url} was cancelled`));
    const timer = timers.setTimeout(() => fail(new TimeoutError(`no challenge from ${url} within ${opts.timeoutMs} ms`, undefined, undefined, true)), opts.timeoutMs);
    const cleanup = () => {
      timers.clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort);

    socket.onmessage = (ev: MessageEvent) => {
      if (challenge) {
        backlog.push(ev.data);
        return;
      }
      const parsed = parseServerFrame(ev.data);
      if (!parsed.ok || parsed.frame.kind !== 'challenge') {
        fail(new AunError(`gateway ${url} did not start with a challenge carrying a nonce`));
        return;
      }
      challenge = parsed.frame.frame.params;
      settled = true;
      cleanup();
      resolve({ socket, challenge, backlog });
    };
    socket.onclose = (ev: CloseEvent) => {
      fail(new ConnectionLostError(`connection to ${url} closed before the challenge (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`, ev.code, { closeCode: ev.code, reason: ev.reason }, true));
    };
    // An error is always followed by close, which carries the code; nothing to do here.
    socket.onerror = () => {};
  });
}
