// Calls from a tab to its owner: every call has a deadline (protocol/deadline.ts) and abort
// support, and rejects at once when its owner dies; the Comlink-style promise alone would hang
// forever. A call a handing-over owner turned away unrun goes to the next owner; a login turned
// away because another owner of the origin holds the AID's session goes to that owner.

import { DEFAULT_DEADLINE_MS, TAB_MARGIN_MS } from '../protocol/deadline.ts';
import { AunError, ConnectionLostError, TimeoutError, errorFromWire } from '../protocol/errors.ts';
import { holderOf, isNotExecuted, type CallOptions, type Outcome, type OwnerFacade } from '../protocol/tab.ts';
import type { ClientState, FacadeCall } from './events.ts';
import { MAX_MOVES, type Link, type Linker } from './link.ts';

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw errorFromWire(o.error);
}

export class Calls {
  readonly #pending = new Map<string, { link: Link; fail: (err: Error) => void }>();

  /** `beforeCall` runs before each call (subscriptions made before it reach the owner first). */
  readonly #s: ClientState;
  readonly #linker: Linker;
  readonly #beforeCall: () => void;
  readonly #defaultTimeoutMs: number;

  constructor(s: ClientState, linker: Linker, beforeCall: () => void, defaultTimeoutMs = DEFAULT_DEADLINE_MS) {
    this.#s = s;
    this.#linker = linker;
    this.#beforeCall = beforeCall;
    this.#defaultTimeoutMs = defaultTimeoutMs;
  }

  /** A call the app made, with its options; `run` gets the call's id and deadline. */
  request<T>(opts: RequestOptions, run: (f: OwnerFacade, id: string, o: CallOptions) => Promise<Outcome<T>>): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.#defaultTimeoutMs;
    const id = crypto.randomUUID();
    return this.invoke((f) => run(f, id, { timeoutMs }), { id, timeoutMs, signal: opts.signal });
  }

  async invoke<T>(run: FacadeCall<T>, opts: { id?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    // Subscriptions made before this call reach the owner before it (a login right after on()
    // must not miss the events of its first moments).
    this.#beforeCall();
    for (let attempt = 0, moves = 0; ; attempt++) {
      const o = await this.#invokeOnce(run, opts);
      // Another owner of the origin holds this AID's session (a login turned away unrun): go there.
      const holder = o.ok ? null : holderOf(o.error.data);
      if (holder && moves++ < MAX_MOVES) {
        await this.#linker.moveTo(holder);
        continue;
      }
      // Turned away unrun by an owner that was handing over: safe to send to the next owner.
      if (attempt < 3 && !o.ok && isNotExecuted(o.error.data) && !holder) continue;
      return unwrap(o);
    }
  }

  /** One facade call with a deadline, abort support and owner-death rejection. */
  async #invokeOnce<T>(run: FacadeCall<T>, opts: { id?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<Outcome<T>> {
    if (this.#s.closed) throw new ConnectionLostError('client closed');
    opts.signal?.throwIfAborted();
    const link = await this.#linker.ensureLink();
    const id = opts.id ?? crypto.randomUUID();
    const timeoutMs = opts.timeoutMs ?? this.#defaultTimeoutMs;
    return new Promise<Outcome<T>>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#pending.delete(id);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error) => {
        finish();
        reject(err);
      };
      const onAbort = () => {
        fail(opts.signal!.reason instanceof Error ? opts.signal!.reason : new DOMException('aborted', 'AbortError'));
        void link.facade.cancel(id).catch(() => {});
      };
      // Past the owner's own deadline, so its answer (or its TimeoutError) wins (protocol/deadline.ts).
      const timer = setTimeout(() => {
        fail(new TimeoutError(`no answer from the owner within ${timeoutMs} ms`));
        void link.facade.cancel(id).catch(() => {});
      }, timeoutMs + TAB_MARGIN_MS);
      opts.signal?.addEventListener('abort', onAbort);
      this.#pending.set(id, { link, fail });
      run(link.facade).then(
        (o) => {
          finish();
          resolve(o);
        },
        (e: unknown) => fail(e instanceof Error ? e : new AunError(String(e))),
      );
    });
  }

  /** Rejects the calls in flight (on `link` only, when given). */
  failPending(err: Error, link?: Link): void {
    for (const [id, p] of [...this.#pending]) {
      if (link && p.link !== link) continue;
      this.#pending.delete(id);
      p.fail(err);
    }
  }
}
