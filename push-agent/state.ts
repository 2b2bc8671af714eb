// What the push agent keeps: its AUN identity (key + certificate), its VAPID key pair and the
// Web Push subscriptions apps registered. One JSON file in the data dir, or memory only.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import webpush from 'web-push';

/** The browser's PushSubscription.toJSON(), minus what the agent does not use. */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface SubscriptionRecord extends WebPushSubscription {
  /** The AID it was registered for: a batch item for another AID never reaches it. */
  aid: string;
  createdAt: number;
}

interface Stored {
  aid: string;
  keyPem: string;
  cert: string;
  vapid: { publicKey: string; privateKey: string };
  subscriptions: Record<string, SubscriptionRecord>;
}

export const MAX_SUBSCRIPTIONS = 10_000;

/** A subscription's id: derived from its endpoint, so registering again updates it in place. */
export function subscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}

export class AgentState {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  private constructor(private readonly data: Stored, private readonly file: string | null) {
    this.privateKey = createPrivateKey(data.keyPem);
    this.publicKey = createPublicKey(this.privateKey);
  }

  /** Loads `<dataDir>/push-agent.json`, or creates it (new key pairs); `null` = memory only. */
  static open(aid: string, dataDir: string | null): AgentState {
    const file = dataDir === null ? null : join(dataDir, 'push-agent.json');
    if (file) {
      try {
        const data = JSON.parse(readFileSync(file, 'utf8')) as Stored;
        if (data.aid === aid) return new AgentState(data, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`push agent state ${file} is unreadable: ${(err as Error).message}`);
      }
      mkdirSync(dataDir!, { recursive: true });
    }
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const state = new AgentState({
      aid,
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      cert: '',
      vapid: webpush.generateVAPIDKeys(),
      subscriptions: {},
    }, file);
    state.save();
    return state;
  }

  get aid(): string { return this.data.aid; }
  get cert(): string { return this.data.cert; }
  get vapid(): { publicKey: string; privateKey: string } { return this.data.vapid; }

  setCert(pem: string): void {
    this.data.cert = pem;
    this.save();
  }

  subscription(sid: string): SubscriptionRecord | null {
    return this.data.subscriptions[sid] ?? null;
  }

  /** Adds or replaces; false when full. */
  putSubscription(aid: string, sub: WebPushSubscription, now: number): string | null {
    const sid = subscriptionId(sub.endpoint);
    if (!this.data.subscriptions[sid] && Object.keys(this.data.subscriptions).length >= MAX_SUBSCRIPTIONS) return null;
    this.data.subscriptions[sid] = { aid, endpoint: sub.endpoint, keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth }, createdAt: now };
    this.save();
    return sid;
  }

  removeSubscription(sid: string): boolean {
    if (!this.data.subscriptions[sid]) return false;
    delete this.data.subscriptions[sid];
    this.save();
    return true;
  }

  private save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 1), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
