// Offline push (spec push.md): the persisted push config per AID written by auth.connect and
// push.update_config (allow-list and same-domain rule, silently ignored when they fail), push.ack,
// and the wiring of the aggregator to the gateway's connections.

import { ErrorCode } from '../../protocol/errors.ts';
import type { OfflinePushBatch } from '../../protocol/events.ts';
import type { ConnectParams } from '../../protocol/methods.ts';
import { RpcError, type AuthedConnection, type GatewayContext, type HandlerTable, type Service } from '../context.ts';
import { migrate } from '../db.ts';
import { PushAggregator, type PushSettings, type PushTarget, type StoredNote } from '../push-aggregator.ts';
import { AID_PATTERN, str } from '../validate.ts';

const MIGRATIONS = [
  `CREATE TABLE push_config (
     aid TEXT PRIMARY KEY,
     push_notify_aid TEXT NOT NULL,
     push_token TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   )`,
];

/** The token is opaque, but not unbounded (Q19). */
export const MAX_PUSH_TOKEN = 4096;

export interface PushService extends Service {
  messageStored(note: StoredNote): void;
}

/** `carol.dev.local` → `dev.local`: AIDs are `{name}.{issuer}` and a name holds no dot. */
function domainOf(aid: string): string {
  return aid.slice(aid.indexOf('.') + 1);
}

export function createPushService(ctx: GatewayContext, allowedAgents: readonly string[], settings: PushSettings): PushService {
  const db = ctx.db;
  migrate(db, 'push', MIGRATIONS);
  const allowed = new Set(allowedAgents);
  const upsert = db.prepare(
    `INSERT INTO push_config (aid, push_notify_aid, push_token, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (aid) DO UPDATE SET push_notify_aid = excluded.push_notify_aid, push_token = excluded.push_token, updated_at = excluded.updated_at`,
  );
  const remove = db.prepare('DELETE FROM push_config WHERE aid = ?');
  const read = db.prepare('SELECT push_notify_aid, push_token FROM push_config WHERE aid = ?');
  /** Write-through cache: the aggregator asks on every message. */
  const cache = new Map<string, PushTarget | null>();

  function configOf(aid: string): PushTarget | null {
    if (!cache.has(aid)) {
      const row = read.get(aid) as { push_notify_aid: string; push_token: string } | undefined;
      cache.set(aid, row ? { agent: row.push_notify_aid, token: row.push_token } : null);
    }
    return cache.get(aid)!;
  }

  /** The allow-list (empty = push off) and the same-domain rule, checked when a config is written (Q5). */
  function acceptable(aid: string, agent: unknown, token: unknown): agent is string {
    return typeof agent === 'string' && typeof token === 'string'
      && allowed.has(agent) && AID_PATTERN.test(agent) && domainOf(agent) === domainOf(aid)
      && token.length > 0 && Buffer.byteLength(token, 'utf8') <= MAX_PUSH_TOKEN;
  }

  function store(aid: string, agent: string, token: string): void {
    upsert.run(aid, agent, token, ctx.now());
    cache.set(aid, { agent, token });
  }

  function send(agent: string, batch: OfflinePushBatch): boolean {
    const conns = ctx.longConnections(agent);
    if (conns.length === 0) return false;
    // One connection only, so an agent with several connections does not push twice (Q15).
    const newest = conns.reduce((a, b) => (b.connectedAt > a.connectedAt ? b : a));
    ctx.push([newest], 'push.offline_message', batch);
    return true;
  }

  const aggregator = new PushAggregator(settings, { now: ctx.now, configOf, isOnline: ctx.isOnline, send });

  const handlers: HandlerTable = {
    'push.ack'(params, conn) {
      const batchId = str(params, 'batch_id', { max: 128 });
      if (aggregator.ack(conn.aid, batchId) === 'foreign') {
        throw new RpcError(ErrorCode.PermissionDenied, `permission denied: batch ${batchId} was not sent to ${conn.aid}`);
      }
      return { success: true };
    },

    'push.update_config'(params, conn) {
      const p = params as Record<string, unknown>;
      const agent = p.push_notify_aid ?? null;
      const token = p.push_token ?? null;
      if (agent === null && token === null) {
        remove.run(conn.aid);
        cache.set(conn.aid, null);
        aggregator.targetOnline(conn.aid);
        return { success: true, stored: false };
      }
      if (typeof agent !== 'string' || typeof token !== 'string') {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: push_notify_aid and push_token must both be strings, or both absent to clear the config');
      }
      if (!acceptable(conn.aid, agent, token)) return { success: true, stored: false };
      store(conn.aid, agent, token);
      return { success: true, stored: true };
    },
  };

  return {
    handlers,
    onConnect(conn: AuthedConnection, params: ConnectParams) {
      // Neither field: leave the stored config alone (Q2); one alone, or a refused agent: ignore (Q3).
      const { push_notify_aid: agent, push_token: token } = params;
      if (acceptable(conn.aid, agent, token)) store(conn.aid, agent, token as string);
    },
    onLongConnected(conn) {
      aggregator.targetOnline(conn.aid);
    },
    messageStored: (note) => aggregator.note(note),
    close: () => aggregator.close(),
  };
}
