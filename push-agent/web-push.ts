// One Web Push request (RFC 8030) with VAPID (RFC 8292) and an aes128gcm payload (RFC 8291),
// built by the `web-push` package and sent with fetch, so that http:// loopback push services
// (tests, local development) work as well as the browsers' https:// ones.

import webpush from 'web-push';
import type { WebPushSubscription } from './state.ts';

export interface Vapid {
  subject: string;
  publicKey: string;
  privateKey: string;
}

export interface WebPushOptions {
  /** Seconds the push service keeps an undelivered message (a late push is noise). */
  ttl: number;
  /** A newer message with the same topic replaces an undelivered older one. */
  topic?: string;
  timeoutMs: number;
}

/** The push service's HTTP status: 201 delivered, 404/410 subscription gone, 413, 429, ... */
export async function sendWebPush(sub: WebPushSubscription, payload: string, vapid: Vapid, opts: WebPushOptions): Promise<number> {
  const details = webpush.generateRequestDetails(sub, payload, {
    vapidDetails: vapid,
    TTL: opts.ttl,
    contentEncoding: 'aes128gcm',
    urgency: 'normal',
    ...(opts.topic ? { topic: opts.topic } : {}),
  });
  const res = await fetch(details.endpoint, {
    method: details.method,
    headers: details.headers as Record<string, string>,
    body: new Uint8Array(details.body),
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}
