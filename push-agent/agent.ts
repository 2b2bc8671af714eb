// The push agent shipped with aun-worker (spec push.md §1, §8): an ordinary AUN client that
// issues push tokens to apps, receives the gateway's offline-push batches, checks each token,
// sends one Web Push per item (metadata only) and acks every batch.

import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { OfflinePushBatch, OfflinePushItem, OfflinePushPayload } from '../protocol/events.ts';
import { AunLink } from './aun-link.ts';
import { createHttpServer, type RegisterResult } from './http.ts';
import { AgentState, subscriptionId, type WebPushSubscription } from './state.ts';
import { checkToken, issueToken } from './token.ts';
import { sendWebPush } from './web-push.ts';

export interface PushAgentOptions {
  /** The agent's AID: must be on the gateway's --push-agents list and in the targets' domain. */
  aid: string;
  /** Gateway WebSocket URL (ws://host:port/ws). */
  gatewayUrl: string;
  /** Gateway HTTP base (for /pki/chain); derived from gatewayUrl when absent. */
  gatewayHttpUrl?: string;
  /** Trust anchor for the login's auth-server check (see aun-link.ts). */
  rootPem?: string;
  /** Directory for push-agent.json (identity, VAPID keys, subscriptions); null = memory only. */
  dataDir: string | null;
  /** HTTP port for apps (0 = any). */
  port?: number;
  host?: string;
  /** Push-token lifetime, seconds (default 7 days). */
  tokenTtl?: number;
  /** VAPID `sub` claim (mailto: or https:). */
  vapidSubject?: string;
  /** Seconds a push service keeps an undelivered push (default 1 hour). */
  pushTtl?: number;
  log?: (line: string) => void;
}

export interface PushAgentStats {
  batches: number;
  acked: number;
  delivered: number;
  dropped: number;
}

export interface PushAgent {
  readonly aid: string;
  readonly httpUrl: string;
  readonly vapidPublicKey: string;
  /** Resolves once the agent's long connection to the gateway is up. */
  readonly ready: Promise<void>;
  stats(): PushAgentStats;
  close(): Promise<void>;
}


const DEFAULT_TOKEN_TTL = 7 * 86_400;
const MAX_LISTED = 5;
const CONCURRENCY = 8;
const PUSH_TIMEOUT_MS = 10_000;

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length <= 255) : [];
}

/** Reads an item defensively: the gateway's frame is input like any other. */
function payloadOf(item: OfflinePushItem): OfflinePushPayload {
  const s = (typeof item.summary === 'object' && item.summary !== null ? item.summary : {}) as Partial<OfflinePushItem['summary']>;
  const senders = stringList(s.senders);
  return {
    v: 1,
    target_aid: item.target_aid,
    unread_count: Number.isInteger(s.unread_count) ? s.unread_count! : 1,
    senders: senders.slice(0, MAX_LISTED),
    sender_count: senders.length,
    latest_ts: typeof s.latest_ts === 'number' ? s.latest_ts : 0,
    group_ids: stringList(s.group_ids).slice(0, MAX_LISTED),
  };
}

export async function startPushAgent(options: PushAgentOptions): Promise<PushAgent> {
  const log = options.log ?? (() => {});
  const state = AgentState.open(options.aid, options.dataDir);
  const tokenTtl = options.tokenTtl ?? DEFAULT_TOKEN_TTL;
  const vapid = { subject: options.vapidSubject ?? `mailto:push@${options.aid.slice(options.aid.indexOf('.') + 1)}`, ...state.vapid };
  const counts: PushAgentStats = { batches: 0, acked: 0, delivered: 0, dropped: 0 };
  const domain = options.aid.slice(options.aid.indexOf('.') + 1);

  function register(aid: string, sub: WebPushSubscription): RegisterResult | { error: string; status: number } {
    if (aid.slice(aid.indexOf('.') + 1) !== domain) return { error: `this push agent serves ${domain} only`, status: 400 };
    const now = Math.floor(Date.now() / 1000);
    const sid = state.putSubscription(aid, sub, Date.now());
    if (!sid) return { error: 'subscription store is full', status: 503 };
    const exp = now + tokenTtl;
    return { push_notify_aid: options.aid, push_token: issueToken(state.privateKey, { aid, sid, iat: now, exp }), expires_at: exp, vapid_public_key: vapid.publicKey };
  }

  async function deliver(item: OfflinePushItem): Promise<void> {
    if (typeof item !== 'object' || item === null || typeof item.target_aid !== 'string') {
      counts.dropped++;
      return;
    }
    const check = checkToken(state.publicKey, item.push_token, item.target_aid, Math.floor(Date.now() / 1000));
    const sub = check.ok ? state.subscription(check.claims.sid) : null;
    if (!check.ok || !sub || sub.aid !== item.target_aid) {
      counts.dropped++;
      log(`drop ${item.target_aid}: ${check.ok ? 'unknown subscription' : `token ${check.reason}`}`);
      return;
    }
    const topic = createHash('sha256').update(item.target_aid).digest('base64url').slice(0, 32);
    try {
      const status = await sendWebPush(sub, JSON.stringify(payloadOf(item)), vapid, { ttl: options.pushTtl ?? 3600, topic, timeoutMs: PUSH_TIMEOUT_MS });
      if (status === 404 || status === 410) {
        state.removeSubscription(check.claims.sid);
        counts.dropped++;
        log(`subscription of ${item.target_aid} is gone (${status}); removed`);
      } else if (status >= 200 && status < 300) {
        counts.delivered++;
      } else {
        counts.dropped++;
        log(`push service answered ${status} for ${item.target_aid}`);
      }
    } catch (err) {
      counts.dropped++;
      log(`push to ${item.target_aid} failed: ${(err as Error).message}`);
    }
  }

  async function onBatch(batch: OfflinePushBatch): Promise<void> {
    if (typeof batch?.batch_id !== 'string') return;
    counts.batches++;
    const items = Array.isArray(batch.items) ? [...batch.items] : [];
    const workers = Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      for (let item = items.shift(); item !== undefined; item = items.shift()) await deliver(item);
    });
    await Promise.all(workers);
    // Acked whatever happened to the items: no retries, a late push is noise (spec push.md §6.1).
    try {
      await link.call('push.ack', { batch_id: batch.batch_id });
      counts.acked++;
    } catch (err) {
      log(`push.ack ${batch.batch_id} failed: ${(err as Error).message}`);
    }
  }

  const link = new AunLink(state, {
    url: options.gatewayUrl,
    httpUrl: options.gatewayHttpUrl ?? options.gatewayUrl.replace(/^ws/, 'http').replace(/\/ws$/, ''),
    ...(options.rootPem ? { rootPem: options.rootPem } : {}),
    onBatch: (b) => void onBatch(b),
    log: (line) => log(line),
  });

  const server = createHttpServer({
    agentAid: options.aid,
    vapidPublicKey: vapid.publicKey,
    register,
    unregister: (endpoint) => state.removeSubscription(subscriptionId(endpoint)),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  link.start();

  return {
    aid: options.aid,
    httpUrl: `http://${options.host ?? '127.0.0.1'}:${port}`,
    vapidPublicKey: vapid.publicKey,
    ready: link.ready,
    stats: () => ({ ...counts }),
    async close() {
      link.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
