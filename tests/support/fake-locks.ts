// An in-memory exclusive LockManager for unit tests of the hub's lock protocols: queueing per
// name, `ifAvailable`, abort signals, and both call shapes of request().

export function fakeLocks(): LockManager {
  const held = new Set<string>();
  const queues = new Map<string, (() => void)[]>();
  const run = (name: string, cb: (l: Lock | null) => unknown) => {
    held.add(name);
    return Promise.resolve(cb({ name, mode: 'exclusive' } as Lock)).finally(() => {
      held.delete(name);
      queues.get(name)?.shift()?.();
    });
  };
  return {
    request(name: string, a: unknown, b?: unknown) {
      const opts = (typeof a === 'function' ? {} : a) as LockOptions;
      const cb = (typeof a === 'function' ? a : b) as (l: Lock | null) => unknown;
      if (!held.has(name)) return run(name, cb);
      if (opts.ifAvailable) return Promise.resolve(cb(null));
      return new Promise((resolve, reject) => {
        const q = queues.get(name) ?? [];
        const go = () => void run(name, cb).then(resolve, reject);
        q.push(go);
        queues.set(name, q);
        opts.signal?.addEventListener('abort', () => {
          q.splice(q.indexOf(go), 1);
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    },
    query: async () => ({ held: [], pending: [] }),
  } as unknown as LockManager;
}
