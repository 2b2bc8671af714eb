// The offline-push aggregator (spec push.md §4–§6): per-target buckets of message metadata,
// the first-at-once / window / burst / cooldown triggers, per-agent and gateway-wide rate limits,
// and the per-agent in-flight slot released by push.ack or the ack timeout. Nothing here persists.

import { randomUUID } from 'node:crypto';
import type { OfflinePushBatch, OfflinePushItem } from '../protocol/events.ts';

export interface PushSettings {
  /** Later messages wait this long for company before a push goes out, ms (spec: 5 s). */
  windowMs: number;
  /** A bucket holding this many unsent messages fires without waiting for the window (spec: 20). */
  burst: number;
  /** Per-target rate limit: at most one push per target in this period, ms (spec: 60 s). */
  cooldownMs: number;
  /** Targets (items) per event (spec: 50). */
  batchSize: number;
  /** Unacknowledged batches per push agent (spec: 1). */
  maxInFlight: number;
  /** An unacknowledged batch frees its slot after this, ms; it is never re-sent (spec: 30 s). */
  ackTimeoutMs: number;
  /** Items one push agent may get per rate window (spec: 1000 / min). */
  agentRate: number;
  /** Items all push agents together may get per rate window (spec: 5000 / min). */
  globalRate: number;
  /** The window of `agentRate` and `globalRate`, ms (spec: one minute). */
  rateWindowMs: number;
}

export const DEFAULT_PUSH_SETTINGS: PushSettings = {
  windowMs: 5_000,
  burst: 20,
  cooldownMs: 60_000,
  batchSize: 50,
  maxInFlight: 1,
  ackTimeoutMs: 30_000,
  agentRate: 1_000,
  globalRate: 5_000,
  rateWindowMs: 60_000,
};

/** What the message path reports: metadata only; the body never reaches this module. */
export interface StoredNote {
  to: string;
  from: string;
  messageId: string;
  /** Milliseconds. */
  ts: number;
  groupId?: string;
}

export interface PushTarget {
  agent: string;
  token: string;
}

export interface AggregatorDeps {
  now(): number;
  /** The target's stored push config, or null. */
  configOf(aid: string): PushTarget | null;
  isOnline(aid: string): boolean;
  /** Sends the event to the agent; false when the agent has no live connection (the batch is dropped). */
  send(agent: string, batch: OfflinePushBatch): boolean;
}

/** Caps that keep one bucket small whatever a sender does (the spec sets none). */
const MAX_SEEN_IDS = 1_000;
const MAX_LISTED = 50;

interface Bucket {
  /** Message ids already counted (dedup), oldest first. */
  seen: Set<string>;
  /** Cumulative since the target went offline (Q9). */
  unread: number;
  senders: string[];
  groupIds: string[];
  latestTs: number;
  /** Messages not yet carried by a sent batch, and when the first of them came. */
  unsent: number;
  firstUnsentAt: number;
  lastPushAt: number | null;
  timer: NodeJS.Timeout | null;
  ready: boolean;
}

interface AgentState {
  inFlight: Map<string, NodeJS.Timeout>;
  /** Items sent, with their time, inside the rate window. */
  sent: { at: number; n: number }[];
}

export type AckOutcome = 'released' | 'unknown' | 'foreign';

export class PushAggregator {
  private readonly buckets = new Map<string, Bucket>();
  /** Targets whose push is due, in the order they became due. */
  private readonly ready = new Set<string>();
  private readonly agents = new Map<string, AgentState>();
  private readonly globalSent: { at: number; n: number }[] = [];
  private pumpTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly settings: PushSettings, private readonly deps: AggregatorDeps) {}

  /** A message was stored for `note.to`. Pushes nothing while any device of the target is online. */
  note(n: StoredNote): void {
    if (this.closed || n.to === n.from) return;
    if (this.deps.isOnline(n.to)) {
      this.targetOnline(n.to);
      return;
    }
    if (!this.deps.configOf(n.to)) return;
    let b = this.buckets.get(n.to);
    if (!b) {
      b = { seen: new Set(), unread: 0, senders: [], groupIds: [], latestTs: 0, unsent: 0, firstUnsentAt: 0, lastPushAt: null, timer: null, ready: false };
      this.buckets.set(n.to, b);
    }
    const key = `${n.groupId ?? ''}\u0000${n.from}\u0000${n.messageId}`;
    if (b.seen.has(key)) return;
    b.seen.add(key);
    if (b.seen.size > MAX_SEEN_IDS) b.seen.delete(b.seen.values().next().value!);
    b.unread++;
    if (!b.senders.includes(n.from) && b.senders.length < MAX_LISTED) b.senders.push(n.from);
    if (n.groupId && !b.groupIds.includes(n.groupId) && b.groupIds.length < MAX_LISTED) b.groupIds.push(n.groupId);
    b.latestTs = Math.max(b.latestTs, n.ts);
    if (b.unsent === 0) b.firstUnsentAt = this.deps.now();
    b.unsent++;
    this.schedule(n.to, b);
  }

  /** A device of the target came online: its bucket and anything pending for it go. */
  targetOnline(aid: string): void {
    const b = this.buckets.get(aid);
    if (b?.timer) clearTimeout(b.timer);
    this.buckets.delete(aid);
    this.ready.delete(aid);
  }

  /** push.ack from `agent`. */
  ack(agent: string, batchId: string): AckOutcome {
    const own = this.agents.get(agent)?.inFlight.get(batchId);
    if (own) {
      clearTimeout(own);
      this.agents.get(agent)!.inFlight.delete(batchId);
      this.pump();
      return 'released';
    }
    for (const s of this.agents.values()) if (s.inFlight.has(batchId)) return 'foreign';
    return 'unknown';
  }

  close(): void {
    this.closed = true;
    for (const b of this.buckets.values()) if (b.timer) clearTimeout(b.timer);
    for (const a of this.agents.values()) for (const t of a.inFlight.values()) clearTimeout(t);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.buckets.clear();
    this.ready.clear();
  }

  /**
   * One state machine for the four triggers (Q8): the cooldown is a hard per-target limit (a burst
   * does not override it); outside it, the first message of an empty bucket or a full burst fires
   * at once, anything else when the window since the first unsent message ends.
   */
  private schedule(target: string, b: Bucket): void {
    if (b.ready) return; // already due: the next batch carries the counts as they are then
    const now = this.deps.now();
    const cooldownEnd = b.lastPushAt === null ? 0 : b.lastPushAt + this.settings.cooldownMs;
    let due: number;
    if (now < cooldownEnd) due = cooldownEnd;
    else if (b.unsent === 1 || b.unsent >= this.settings.burst) due = now;
    else due = b.firstUnsentAt + this.settings.windowMs;
    if (b.timer) clearTimeout(b.timer);
    b.timer = null;
    if (due <= now) {
      this.markReady(target, b);
      return;
    }
    b.timer = setTimeout(() => {
      b.timer = null;
      if (this.buckets.get(target) === b) this.markReady(target, b);
    }, due - now);
    b.timer.unref();
  }

  private markReady(target: string, b: Bucket): void {
    b.ready = true;
    this.ready.add(target);
    this.pump();
  }

  private agentState(agent: string): AgentState {
    let s = this.agents.get(agent);
    if (!s) {
      s = { inFlight: new Map(), sent: [] };
      this.agents.set(agent, s);
    }
    return s;
  }

  private used(log: { at: number; n: number }[], now: number): number {
    while (log.length > 0 && log[0]!.at <= now - this.settings.rateWindowMs) log.shift();
    return log.reduce((sum, e) => sum + e.n, 0);
  }

  /** Sends what is due, agent by agent, within the in-flight and rate limits. */
  private pump(): void {
    if (this.closed) return;
    const now = this.deps.now();
    const byAgent = new Map<string, string[]>();
    for (const target of this.ready) {
      const b = this.buckets.get(target);
      const cfg = this.deps.configOf(target);
      if (!b || !cfg) {
        this.ready.delete(target);
        if (b) b.ready = false;
        continue;
      }
      if (this.deps.isOnline(target)) {
        this.targetOnline(target);
        continue;
      }
      const list = byAgent.get(cfg.agent) ?? [];
      list.push(target);
      byAgent.set(cfg.agent, list);
    }
    let retryAt = Infinity;
    for (const [agent, targets] of byAgent) {
      const state = this.agentState(agent);
      if (state.inFlight.size >= this.settings.maxInFlight) continue; // an ack or the timeout pumps again
      const room = Math.min(
        this.settings.batchSize,
        this.settings.agentRate - this.used(state.sent, now),
        this.settings.globalRate - this.used(this.globalSent, now),
      );
      if (room <= 0) {
        const oldest = [state.sent[0]?.at, this.globalSent[0]?.at].filter((t): t is number => t !== undefined);
        retryAt = Math.min(retryAt, Math.min(...oldest) + this.settings.rateWindowMs);
        continue;
      }
      this.sendBatch(agent, state, targets.slice(0, room), now);
    }
    if (retryAt !== Infinity && !this.pumpTimer) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        this.pump();
      }, Math.max(1, retryAt - now));
      this.pumpTimer.unref();
    }
  }

  private sendBatch(agent: string, state: AgentState, targets: string[], now: number): void {
    const items: OfflinePushItem[] = [];
    for (const target of targets) {
      const b = this.buckets.get(target)!;
      items.push({
        target_aid: target,
        push_token: this.deps.configOf(target)!.token,
        summary: { unread_count: b.unread, senders: [...b.senders], latest_ts: Math.floor(b.latestTs / 1000), group_ids: [...b.groupIds] },
      });
      this.ready.delete(target);
      b.ready = false;
    }
    const batch: OfflinePushBatch = { batch_id: randomUUID(), items };
    // An offline agent drops the event (spec §6.3): no slot taken, no rate used, and the buckets
    // keep their content for the next batch a later message triggers (Q16).
    if (!this.deps.send(agent, batch)) return;
    for (const target of targets) {
      const b = this.buckets.get(target)!;
      b.lastPushAt = now;
      b.unsent = 0;
    }
    state.sent.push({ at: now, n: items.length });
    this.globalSent.push({ at: now, n: items.length });
    const timer = setTimeout(() => {
      state.inFlight.delete(batch.batch_id);
      this.pump();
    }, this.settings.ackTimeoutMs);
    timer.unref();
    state.inFlight.set(batch.batch_id, timer);
  }
}
