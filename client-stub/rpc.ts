// The tab's end of the owner's RPC port. The owner exposes its facade with Comlink
// (worker/hub/hub.ts, behind worker/hub/guard.ts, which lets through only APPLY of one listed
// method with raw arguments); a tab makes only such calls, so it speaks that one message of
// Comlink's wire format itself instead of loading the whole Comlink client (about 2.5 KiB
// min+gzip, a third of what a tab loads).

import type { OwnerFacade } from '../protocol/tab.ts';

/** A Comlink reply: a raw value, or (name 'throw') what the exposed method threw. */
interface Reply {
  id: string;
  type: 'RAW' | 'HANDLER';
  name?: string;
  value: unknown;
}

/** Rebuilds what the owner threw, as Comlink's throw handler does. */
function thrown(v: { isError?: boolean; value?: unknown }): unknown {
  return v.isError ? Object.assign(new Error((v.value as Error).message), v.value) : v.value;
}

/** The owner's facade over `port`: every method posts one APPLY and resolves with its reply. */
export function remoteFacade(port: MessagePort): OwnerFacade {
  const waiting = new Map<string, (r: Reply) => void>();
  port.addEventListener('message', (ev: MessageEvent<Reply>) => {
    const r = ev.data;
    const done = r && waiting.get(r.id);
    if (!done) return;
    waiting.delete(r.id);
    done(r);
  });
  port.start();
  const method = (name: string) => (...args: unknown[]) => new Promise((resolve, reject) => {
    const id = crypto.randomUUID();
    waiting.set(id, (r) => (r.type === 'RAW' ? resolve(r.value) : reject(thrown(r.value as object))));
    port.postMessage({ id, type: 'APPLY', path: [name], argumentList: args.map((value) => ({ type: 'RAW', value })) });
  });
  // Only facade method names are ever read ('then' stays undefined, so the facade is no thenable).
  return new Proxy({} as OwnerFacade, { get: (_t, name) => (typeof name === 'string' && name !== 'then' ? method(name) : undefined) });
}
