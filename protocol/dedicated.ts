// The messages between a tab and the owner it runs in a dedicated worker (the leader and single
// rungs: client-stub/fallback.ts and worker/main.ts), before the attach that protocol/tab.ts
// describes: the port the attach then goes on, and the drain of a leader that hands over.

/** First message a tab posts to a dedicated-worker owner (leader and single rungs), with a port. */
export const CONNECT = 'aun.connect';
/** The leader tab asks its dedicated-worker owner to drain (a newer build takes over)… */
export const DRAIN = 'aun.drain';
/** …and the owner answers once it has. */
export const DRAINED = 'aun.drained';
