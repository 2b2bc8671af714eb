// What a tab asks one AID's worker to do beyond sending (spec groups-and-more): recall its own
// messages, write group settings with a signed index, and put or read end-to-end encrypted
// thoughts. The Account (worker/account.ts) owns the pieces; this file only sequences them.

import { randomHex } from '../../protocol/bytes.ts';
import { AunError, ValidationError } from '../../protocol/errors.ts';
import { jsonForm, type JsonObject } from '../../protocol/frames.ts';
import type { MethodName, ParamsOf, ResultOf } from '../../protocol/methods.ts';
import type { ThoughtContext } from '../../protocol/methods-extra.ts';
import type { NotifyTarget, RecallOutcome, Thought, ThoughtPut } from '../../protocol/tab.ts';
import type { LoggedEvent, LoggedInput } from '../delivery/journal.ts';
import type { Recalls } from '../delivery/recall.ts';
import type { Decrypted } from '../e2ee/envelope.ts';
import { setGroupSettings } from './group-settings.ts';

const MAX_IDS = 100;

export interface AccountActionsDeps {
  aid: string;
  ecdsa: CryptoKey;
  rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  recalls: Recalls;
  record(input: LoggedInput): Promise<LoggedEvent | null>;
  /** Takes a queued send back; true when it had not reached the gateway. */
  withdraw(messageId: string): Promise<boolean>;
  /** Pulls a group's rows now (the caller's own recall notice is one). */
  catchUpGroup(groupId: string): Promise<void>;
  encryptTo(to: string, payload: JsonObject, messageId: string): Promise<unknown>;
  encryptToGroup(groupId: string, payload: JsonObject, messageId: string): Promise<unknown>;
  decryptThought(envelope: unknown, from: string, groupId?: string): Promise<Decrypted>;
}

function target(t: NotifyTarget): { to: string } | { groupId: string } {
  if (typeof t?.groupId === 'string' && t.groupId !== '') return { groupId: t.groupId };
  if (typeof t?.to === 'string' && t.to !== '') return { to: t.to };
  throw new ValidationError('needs { to } or { groupId }');
}

function context(c: ThoughtContext): ThoughtContext {
  if (typeof c?.type !== 'string' || typeof c?.id !== 'string' || c.type === '' || c.id === '') throw new ValidationError('a thought context needs a type and an id, e.g. { type: "run", id: "run-1" }');
  return { type: c.type, id: c.id };
}

export class AccountActions {
  constructor(private readonly deps: AccountActionsDeps) {}

  /**
   * Recalls messages this AID sent: queued ones are withdrawn from the outbox, the rest are
   * recalled at the gateway. Every tab (and every later one) gets one recall event.
   */
  async recall(messageIds: string[], groupId: string | null, reason = ''): Promise<RecallOutcome> {
    if (!Array.isArray(messageIds) || messageIds.length === 0 || messageIds.length > MAX_IDS || !messageIds.every((id) => typeof id === 'string' && id.trim() !== '')) {
      throw new ValidationError(`recall needs 1–${MAX_IDS} message ids`);
    }
    if (groupId !== null && typeof groupId !== 'string') throw new ValidationError('groupId must be a string or null');
    const ids = [...new Set(messageIds)];
    const withdrawn: string[] = [];
    for (const id of ids) if (await this.deps.withdraw(id)) withdrawn.push(id);
    const rest = ids.filter((id) => !withdrawn.includes(id));
    let recalled: string[] = [];
    const errors: RecallOutcome['errors'] = [];
    if (rest.length > 0) {
      if (groupId === null) {
        const r = await this.deps.rpc('message.recall', { message_ids: rest });
        for (const e of r.errors ?? []) errors.push({ messageId: e.message_id, error: e.error });
      } else {
        const r = await this.deps.rpc('group.recall', { group_id: groupId, group_aid: groupId, message_ids: rest, reason });
        for (const e of r.errors) errors.push({ messageId: e.message_id, error: e.error });
      }
      recalled = rest.filter((id) => !errors.some((e) => e.messageId === id));
    }
    const at = Date.now();
    const { aid } = this.deps;
    if (groupId === null) {
      const done = [...withdrawn, ...recalled];
      if (done.length > 0) await this.deps.record(await this.deps.recalls.p2p({ from: aid, to: '', messageIds: done, seq: null, at }));
    } else {
      if (withdrawn.length > 0) {
        await this.deps.record(await this.deps.recalls.group({ groupId, from: aid, recalledBy: aid, messageIds: withdrawn, seqs: [], reason, seq: null, at }));
      }
      // The gateway's notice row carries the seqs: pulling it redacts and logs the recall.
      if (recalled.length > 0) await this.deps.catchUpGroup(groupId);
    }
    return { recalled: [...withdrawn, ...recalled], errors };
  }

  async setGroupSettings(groupId: string, settings: Record<string, unknown>): Promise<string[]> {
    if (typeof groupId !== 'string' || groupId === '') throw new ValidationError('needs a group id');
    // Hashed into the signed index as canonical JSON, sent as JSON: both must be of one value.
    return setGroupSettings(this.deps, groupId, jsonForm(settings, 'settings'));
  }

  async thoughtPut(t: NotifyTarget, ctx: ThoughtContext, payload: JsonObject): Promise<ThoughtPut> {
    const where = target(t);
    const c = context(ctx);
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new ValidationError('a thought payload must be an object');
    // Canonical JSON, which the envelope is made of, would write a Date as {}: its readers get the JSON form.
    payload = jsonForm(payload, 'the payload');
    if ('to' in where) {
      const id = `mt-${randomHex(16)}`;
      const envelope = (await this.deps.encryptTo(where.to, payload, id)) as JsonObject;
      const r = await this.deps.rpc('message.thought.put', { to: where.to, payload: envelope, encrypted: true, thought_id: id, timestamp: Date.now(), context: c });
      return { thoughtId: r.thought_id, storedCount: r.stored_count };
    }
    const id = `gt-${randomHex(16)}`;
    const envelope = (await this.deps.encryptToGroup(where.groupId, payload, id)) as JsonObject;
    const r = await this.deps.rpc('group.thought.put', { group_id: where.groupId, payload: envelope, encrypted: true, thought_id: id, timestamp: Date.now(), context: c });
    return { thoughtId: r.thought_id, storedCount: r.stored_count };
  }

  async thoughtGet(t: NotifyTarget & { sender: string }, ctx: ThoughtContext): Promise<Thought[]> {
    const where = target(t);
    const c = context(ctx);
    if (typeof t.sender !== 'string' || t.sender === '') throw new ValidationError('needs the sender AID');
    const open = async (payload: unknown, from: string, groupId?: string): Promise<JsonObject | null> => {
      try {
        return (await this.deps.decryptThought(payload, from, groupId)).payload as JsonObject;
      } catch {
        return null;
      }
    };
    if ('to' in where) {
      const own = t.sender === this.deps.aid;
      const r = await this.deps.rpc('message.thought.get', { sender_aid: t.sender, context: c, ...(own ? { peer_aid: where.to } : {}) });
      return Promise.all(r.thoughts.map(async (i) => ({ thoughtId: i.thought_id, from: i.from, payload: await open(i.payload, i.from), createdAt: i.created_at })));
    }
    const r = await this.deps.rpc('group.thought.get', { group_id: where.groupId, group_aid: where.groupId, sender_aid: t.sender, context: c });
    return Promise.all(r.thoughts.map(async (i) => ({ thoughtId: i.thought_id, from: t.sender, payload: await open(i.payload, t.sender, where.groupId), createdAt: i.created_at })));
  }
}

/** The refusal a queued send gets when its sender recalls it before it went out. */
export function withdrawnError(messageId: string): AunError {
  return new AunError(`message ${messageId} was recalled before it was sent`);
}
