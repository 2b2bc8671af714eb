// Short pre-auth RPC (spec §0.2): open → read `challenge` → send exactly one request with the
// fixed id `pre-<method>` → read exactly one response → close. One deadline covers all of it.

import {
  AunError, AuthError, ConnectionLostError, ErrorCode, TimeoutError, errorFromRpc,
} from '../../protocol/errors.ts';
import { isErrorFrame, preAuthId } from '../../protocol/frames.ts';
import { type MethodName, type ParamsOf, type ResultOf } from '../../protocol/methods.ts';
import { systemTimers, type Timers, type WebSocketCtor } from '../net/io.ts';
import { openChallenged, parseServerFrame } from '../net/socket.ts';

/** The reference's hard limit for a short RPC; a login is two of these. */
export const SHORT_RPC_TIMEOUT_MS = 10_000;

export interface ShortRpcOptions {
  WebSocketImpl?: WebSocketCtor;
  timers?: Timers;
  timeoutMs?: number;
}

export async function shortRpc<M extends MethodName>(url: string, method: M, params: ParamsOf<M>, opts: ShortRpcOptions = {}): Promise<ResultOf<M>> {
  const timers = opts.timers ?? systemTimers;
  const timeoutMs = opts.timeoutMs ?? SHORT_RPC_TIMEOUT_MS;
  const startedAt = timers.now();
  const { socket, backlog } = await openChallenged(url, { WebSocketImpl: opts.WebSocketImpl, timers, timeoutMs });
  const id = preAuthId(method);
  try {
    const frame = await new Promise<unknown>((resolve, reject) => {
      const left = Math.max(0, timeoutMs - (timers.now() - startedAt));
      const timer = timers.setTimeout(() => reject(new TimeoutError(`${method}: no answer within ${timeoutMs} ms`, undefined, undefined, true)), left);
      const settle = (fn: () => void) => {
        timers.clearTimeout(timer);
        socket.onmessage = socket.onclose = null;
        fn();
      };
      socket.onmessage = (ev: MessageEvent) => settle(() => resolve(ev.data));
      socket.onclose = (ev: CloseEvent) => settle(() => reject(new ConnectionLostError(`${method}: connection closed before the answer (code ${ev.code})`, ev.code, { closeCode: ev.code, reason: ev.reason }, true)));
      // A pre-auth server sends nothing between the challenge and the request (spec §3.1): the
      // next frame, whenever it comes, is taken as the response and checked as one.
      if (backlog.length > 0) return settle(() => resolve(backlog[0]));
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
    return resultOf(method, id, frame) as ResultOf<M>;
  } finally {
    socket.close();
  }
}

function resultOf(method: string, id: string, data: unknown): unknown {
  const parsed = parseServerFrame(data);
  if (!parsed.ok || parsed.frame.kind !== 'response') {
    throw new AunError(`${method}: expected the response, got ${parsed.ok ? `a ${parsed.frame.kind}` : parsed.reason}`);
  }
  const response = parsed.frame.frame;
  if (isErrorFrame(response)) throw errorFromRpc(response.error);
  if (response.id !== id) throw new AunError(`${method}: response id ${String(response.id)} is not ${id}`);
  const result = response.result as { success?: unknown; error?: unknown } | null;
  // Auth services report some failures as results (spec §4.5); the result rides along as data.
  if (result !== null && typeof result === 'object' && result.success === false) {
    throw new AuthError(`${method} failed: ${typeof result.error === 'string' ? result.error : 'success=false'}`, ErrorCode.AuthFailed, result);
  }
  return result;
}
