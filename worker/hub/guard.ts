// Comlink would let a port GET, SET, CONSTRUCT or walk any property path of the exposed object.
// The guard sits between the port and Comlink.expose and lets through only calls of a listed
// method with plain (structured-clone) arguments; anything else is answered with an error.

import type { Endpoint } from 'comlink';

interface WireMessage {
  id?: string;
  type?: string;
  path?: unknown;
  argumentList?: unknown;
}

function refusal(id: string | undefined, message: string) {
  return { id, type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: 'PermissionError', message } } };
}

function allowed(msg: WireMessage, methods: ReadonlySet<string>): string | null {
  if (msg.type === 'RELEASE') return null;
  if (msg.type !== 'APPLY') return `only method calls are allowed (got ${String(msg.type)})`;
  const path = msg.path;
  if (!Array.isArray(path) || path.length !== 1 || typeof path[0] !== 'string' || !methods.has(path[0])) {
    return `unknown method ${Array.isArray(path) ? path.join('.') : '?'}`;
  }
  const args = msg.argumentList;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'object' && a !== null && (a as { type?: unknown }).type === 'RAW')) {
    return 'arguments must be plain data';
  }
  return null;
}

/** Wraps a port so that Comlink only ever sees calls of `methods`. */
export function guardedEndpoint(port: MessagePort, methods: ReadonlySet<string>): Endpoint {
  const listeners = new Map<EventListenerOrEventListenerObject, (ev: MessageEvent) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer ?? []),
    addEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      const filtered = (ev: MessageEvent) => {
        const msg = (ev.data ?? {}) as WireMessage;
        const problem = allowed(msg, methods);
        if (problem) {
          port.postMessage(refusal(msg.id, problem));
          return;
        }
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      listeners.set(listener, filtered);
      port.addEventListener(type as 'message', filtered);
    },
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      const filtered = listeners.get(listener);
      if (filtered) port.removeEventListener(type as 'message', filtered);
      listeners.delete(listener);
    },
    start: () => port.start(),
  };
}
