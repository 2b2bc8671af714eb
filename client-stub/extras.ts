// The client API for recall, notify and thoughts (spec groups-and-more): thin typed wrappers over
// the owner facade, mixed into the client by index.ts. The group administration calls of the same
// spec are with the other group calls in identities.ts.

import type { JsonObject } from '../protocol/frames.ts';
import type { ThoughtContext } from '../protocol/methods-extra.ts';
import type { NotifyTarget, RecallOutcome, Thought, ThoughtPut } from '../protocol/tab.ts';
import type { Calls } from './calls.ts';

/** The message ids of a recall: one id or several. */
export const ids = (messageIds: string | string[]): string[] => (Array.isArray(messageIds) ? messageIds : [messageIds]);

/** `aun.thoughts`: end-to-end encrypted thoughts (an agent's current thinking per context). */
export interface Thoughts {
  /** Appends a thought for a peer (`{to}`) or a group (`{groupId}`) under `context`. */
  put(target: NotifyTarget, context: ThoughtContext, payload: JsonObject): Promise<ThoughtPut>;
  /** A sender's thoughts for a context, decrypted (`payload: null` when this device cannot read one). */
  get(target: NotifyTarget & { sender: string }, context: ThoughtContext): Promise<Thought[]>;
}

export function thoughtsApi(c: Calls): Thoughts {
  return {
    put: (target: NotifyTarget, context: ThoughtContext, payload: JsonObject): Promise<ThoughtPut> => c.invoke((f) => f.thoughtPut(target, context, payload)),
    get: (target: NotifyTarget & { sender: string }, context: ThoughtContext): Promise<Thought[]> => c.invoke((f) => f.thoughtGet(target, context)),
  };
}

/** Recall of P2P messages; `aun.recall(messageId)`. */
export function recallP2p(c: Calls, messageIds: string | string[]): Promise<RecallOutcome> {
  return c.invoke((f) => f.recall(ids(messageIds), null, ''));
}

/** A notice to an AID (a string) or a group (`{groupId}`); `aun.notify(to, kind, params)`. */
export function notifyTo(c: Calls, to: string | { groupId: string }, kind: string, params: JsonObject = {}): Promise<boolean> {
  const target: NotifyTarget = typeof to === 'string' ? { to } : { groupId: to.groupId };
  return c.invoke((f) => f.notify(target, kind, params));
}
