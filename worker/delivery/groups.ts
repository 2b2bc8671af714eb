// The groups of one AID on this device: per group, one seq inbox for messages (`group:<id>`) and
// one for membership events (`group_event:<id>`), filled by pulls on ready and after every push
// (a push is only a hint: a forged one costs a pull, never a message or a membership change).

import { AunError, ErrorCode } from '../../protocol/errors.ts';
import { type JsonObject } from '../../protocol/frames.ts';
import {
  type GroupEvent, type GroupRow, type MethodName, type ParamsOf, type ResultOf,
} from '../../protocol/methods.ts';
import { type GroupChange, type GroupInboundMessage } from '../../protocol/tab.ts';
import type { LoggedEvent, LoggedInput } from './journal.ts';
import { groupRecallNotice, isNotice, type GroupNotice } from './recall.ts';
import { groupMessageKey, releaseSeen } from './rows.ts';
import { SeqInbox } from './seq-inbox.ts';

export interface GroupsDeps {
  aid: string;
  rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  loadCursor(ns: string): Promise<number>;
  /** Stores the cursor and the logged inputs in one step, and publishes them (see Journal.commit). */
  commit(ns: string, seq: number, inputs: (LoggedInput | null)[]): Promise<(LoggedEvent | null)[]>;
  /**
   * A V2 row as the app sees it, or its undecryptable notice; null to drop it quietly. May throw
   * a failure that may pass, unless `final` (see SeqInboxDeps.open).
   */
  decrypt(row: GroupRow, final: boolean): Promise<LoggedInput | null>;
  /** A recall notice as its logged event (the originals redacted in the log). */
  recall(notice: GroupNotice): Promise<LoggedInput>;
  /** Releases an E2EE dedupe key that an opened row took (see LoggedInput.seen). */
  unsee(key: string): void;
  /** Resolves once the commits so far are on disk; an ack waits for it (SeqInboxDeps.durable). */
  durable?(): Promise<void>;
  /** Membership moved: cached keys of the group are stale. */
  membershipChanged(groupId: string, joinedSelf: boolean): void;
  log?(line: string): void;
}

type GroupEventRow = GroupEvent & { seq: number };

interface Tracked {
  messages: SeqInbox<GroupRow, LoggedInput, LoggedEvent>;
  events: SeqInbox<GroupEventRow, LoggedInput<'group.changed'>, LoggedEvent>;
}

/** Pushes that say a group has a new message (with its content, or without: the notification form). */
const GROUP_MESSAGE_PUSHES: ReadonlySet<string> = new Set(['group.v2.message_created', 'group.message_created', 'group.message_recalled']);
/** AIDs are domain names (at most 253 characters); a longer group id is not one. */
const MAX_GROUP_ID = 255;
/** The gateway's answers that confirm this AID is out of a group. */
const GONE_CODES: ReadonlySet<number> = new Set([ErrorCode.GroupNotMember, ErrorCode.GroupNotFound]);
const MEMBERSHIP: ReadonlySet<string> = new Set(['member_added', 'member_removed', 'member_left', 'joined', 'join_approved', 'invite_code_used']);
const SELF_GONE: ReadonlySet<string> = new Set(['member_removed', 'member_left', 'dissolved']);

function plaintext(aid: string, row: GroupRow): LoggedInput<'group.message'> | null {
  if (!row.payload || typeof row.payload !== 'object') return null;
  const data: GroupInboundMessage = {
    aid, groupId: row.group_id, seq: row.seq, messageId: row.message_id, from: row.from_aid, timestamp: row.t_server,
    payload: row.payload as JsonObject, encrypted: false, direction: row.from_aid === aid ? 'outbound_sync' : 'inbound',
  };
  return { name: 'group.message', key: groupMessageKey(row.group_id, row.seq), data };
}

export class Groups {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly deps: GroupsDeps) {}

  has(groupId: string): boolean {
    return this.tracked.has(groupId);
  }

  private track(groupId: string): Tracked {
    const known = this.tracked.get(groupId);
    if (known) return known;
    const { aid, rpc, log, durable } = this.deps;
    const messagesNs = `group:${groupId}`;
    const eventsNs = `group_event:${groupId}`;
    const t: Tracked = {
      messages: new SeqInbox<GroupRow, LoggedInput, LoggedEvent>({
        name: `${messagesNs} (${aid})`,
        pull: async (after, limit) => {
          const r = await rpc('group.v2.pull', { group_id: groupId, group_aid: groupId, after_seq: after, limit });
          return { rows: r.messages.map((m) => ({ ...m, group_id: m.group_id ?? groupId })), hasMore: r.has_more, floor: r.cursor?.current_seq ?? 0 };
        },
        ack: async (upTo) => {
          await rpc('group.v2.ack', { group_id: groupId, group_aid: groupId, up_to_seq: upTo });
        },
        loadCursor: () => this.deps.loadCursor(messagesNs),
        commit: (seq, inputs) => this.deps.commit(messagesNs, seq, inputs),
        open: (row, final) => (row.version === 'v2' ? this.deps.decrypt(row, final) : this.openPlain(row)),
        readsLog: (row) => row.version !== 'v2' && isNotice(groupRecallNotice(row)),
        abandon: (items) => releaseSeen(items, this.deps.unsee),
        ...(durable ? { durable } : {}),
        ...(log ? { log } : {}),
      }),
      events: new SeqInbox<GroupEventRow, LoggedInput<'group.changed'>, LoggedEvent>({
        name: `${eventsNs} (${aid})`,
        pull: async (after, limit) => {
          const r = await rpc('group.pull_events', { group_id: groupId, group_aid: groupId, after_event_seq: after, limit });
          return { rows: r.events.map((e) => ({ ...e, seq: e.event_seq })), hasMore: r.has_more, floor: r.cursor?.current_seq ?? 0 };
        },
        ack: async (upTo) => {
          await rpc('group.ack_events', { group_id: groupId, group_aid: groupId, event_seq: upTo });
        },
        loadCursor: () => this.deps.loadCursor(eventsNs),
        commit: (seq, inputs) => this.deps.commit(eventsNs, seq, inputs),
        open: async (e) => ({ name: 'group.changed', key: `gevent:${groupId}:${e.event_seq}`, data: this.change(groupId, e) }),
        delivered: (ev) => this.afterChange(ev.data as GroupChange),
        ...(durable ? { durable } : {}),
        ...(log ? { log } : {}),
      }),
    };
    this.tracked.set(groupId, t);
    return t;
  }

  /** A plaintext row: a message, or a recall tombstone (the placeholder shows nothing). */
  private async openPlain(row: GroupRow): Promise<LoggedInput | null> {
    const recall = groupRecallNotice(row);
    if (recall) return recall === 'placeholder' ? null : this.deps.recall(recall);
    return plaintext(this.deps.aid, row);
  }

  private change(groupId: string, e: GroupEvent): GroupChange {
    const raw = e as GroupEvent & { joined_aid?: string; aid?: string };
    return {
      aid: this.deps.aid, groupId, eventSeq: e.event_seq, action: e.action,
      member: raw.joined_aid ?? raw.member_aid ?? raw.aid ?? null, actor: e.actor_aid, at: e.created_at,
      ...(e.old_role ? { oldRole: e.old_role } : {}), ...(e.new_role ? { newRole: e.new_role } : {}),
      ...(e.old_owner ? { oldOwner: e.old_owner } : {}), ...(e.new_owner ? { newOwner: e.new_owner } : {}),
      ...(e.status ? { status: e.status } : {}), ...(Array.isArray(e.keys) ? { keys: e.keys } : {}),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    };
  }

  private afterChange(c: GroupChange): void {
    if (!MEMBERSHIP.has(c.action) && c.action !== 'dissolved') return;
    const self = c.member === this.deps.aid;
    this.deps.membershipChanged(c.groupId, self && !SELF_GONE.has(c.action));
    if (self && SELF_GONE.has(c.action)) this.untrack(c.groupId);
    else if (self) void this.tracked.get(c.groupId)?.messages.catchUp().catch((err: unknown) => this.failed(`group:${c.groupId}: pull after joining`, err));
  }

  /** Starts following a group (after create or join) and catches up on it. */
  follow(groupId: string): Promise<void> {
    const t = this.track(groupId);
    return Promise.all([t.messages.catchUp(), t.events.catchUp()]).then(() => {});
  }

  untrack(groupId: string): void {
    const t = this.tracked.get(groupId);
    if (!t) return;
    t.messages.stop();
    t.events.stop();
    this.tracked.delete(groupId);
  }

  /** On ready: follow every group this AID belongs to. */
  async syncAll(): Promise<void> {
    const mine = await this.deps.rpc('group.list_my', { size: 200 });
    await Promise.all(mine.items.map((g) => this.follow(g.group_id)));
  }

  /** Our own message got `seq`: move the cursor over it rather than treat it as a gap. */
  sent(groupId: string, seq: number): void {
    void this.track(groupId).messages.skip(seq);
  }

  onEvent(name: string, params: unknown): void {
    if (typeof params !== 'object' || params === null) return;
    const p = params as { group_id?: unknown; seq?: unknown; event_seq?: unknown };
    if (typeof p.group_id !== 'string' || p.group_id === '' || p.group_id.length > MAX_GROUP_ID) return;
    const groupId = p.group_id;
    if (!GROUP_MESSAGE_PUSHES.has(name) && name !== 'group.changed') return;
    const known = this.tracked.get(groupId);
    if (!known) {
      // A group this device does not follow yet (it was just added): following it costs a pull of
      // each inbox; a group the gateway says we are not in is dropped again.
      void this.follow(groupId).catch(() => this.untrack(groupId));
      return;
    }
    // Every group push is a hint: the rows and events come from the gateway's stored sequence.
    if (GROUP_MESSAGE_PUSHES.has(name)) void known.messages.hint(p.seq);
    else if (this.saysSelfGone(params as GroupEvent)) {
      void known.events.catchUp()
        .catch((err: unknown) => this.confirmGone(groupId, params as GroupEvent, err))
        .catch((err: unknown) => this.failed(`group_event:${groupId}: a removal that could not be logged`, err));
    }
    else void known.events.hint(p.event_seq);
  }

  /** A background step failed; a later push, ready or the inbox's retry runs it again. */
  private failed(what: string, err: unknown): void {
    this.deps.log?.(`${what}: ${(err as Error).message}`);
  }

  private saysSelfGone(e: GroupEvent): boolean {
    const c = this.change(e.group_id, e);
    return c.action === 'dissolved' || (SELF_GONE.has(c.action) && c.member === this.deps.aid);
  }

  /**
   * A member that was removed (or left, or whose group was dissolved) can no longer pull the
   * event that says so. The push is believed only when the gateway's answer confirms it: the
   * pull of the group's events is refused because this AID is not a member (or there is no group).
   */
  private async confirmGone(groupId: string, e: GroupEvent, err: unknown): Promise<void> {
    const t = this.tracked.get(groupId);
    if (!t || !(err instanceof AunError) || !GONE_CODES.has(err.code)) return;
    if (!Number.isSafeInteger(e.event_seq) || e.event_seq <= t.events.cursor) return;
    const input: LoggedInput<'group.changed'> = { name: 'group.changed', key: `gevent:${groupId}:${e.event_seq}`, data: this.change(groupId, e) };
    await this.deps.commit(`group_event:${groupId}`, e.event_seq, [input]);
    this.afterChange(input.data);
  }

  stop(): void {
    for (const id of [...this.tracked.keys()]) this.untrack(id);
  }
}
