// Forged and replayed pushes for the hostile-input tests (issue 13): push frames as the gateway
// writes them, real E2EE envelopes made by a Node sender, and a count of the calls an in-process
// gateway receives (to tell one pull from a pull loop).

import WebSocket from 'ws';
import { encryptP2P, type Envelope } from '../../worker/e2ee/envelope.ts';
import type { Session } from './aun-client.ts';
import { p256, targetsFrom } from './e2ee-peer.ts';

/** A gateway event frame, as the gateway writes it (`event/<name>`). */
export function pushFrame(event: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method: `event/${event}`, params });
}

/** The device list of `aid` once every device published a prekey (a fresh tab does so just after ready). */
export async function peerDevices(sender: Session, aid: string, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const boot = await sender.call<{ peer_devices: Record<string, unknown>[] }>('message.v2.bootstrap', { peer_aid: aid });
    if (boot.peer_devices.length && boot.peer_devices.every((d) => typeof d.spk_id === 'string')) return boot.peer_devices;
    if (Date.now() > until) throw new Error(`${aid} published no prekey within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A real V2 envelope from `sender` (its socket's device `senderDevice`) to every device of `aid`, made but not sent. */
export async function envelopeTo(
  sender: Session, senderDevice: string, devices: Record<string, unknown>[], aid: string, payload: Record<string, unknown>, messageId: string,
): Promise<Envelope> {
  const me = { aid: sender.identity.aid, deviceId: senderDevice, ik: p256(sender.identity.privateKey) };
  return encryptP2P(me, targetsFrom(devices, aid), payload, { messageId });
}

/**
 * Counts the frames naming `method` that any in-process `ws` socket receives (the gateway's side
 * of the browser's socket): a bounded pull is one or two, a loop is hundreds a second.
 */
export function countCalls(method: string): { readonly count: number; stop(): void } {
  const needle = `"method":"${method}"`;
  const proto = WebSocket.prototype as unknown as { emit(event: string | symbol, ...args: unknown[]): boolean };
  const original = proto.emit;
  let count = 0;
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'message' && String(args[0]).includes(needle)) count++;
    return original.call(this, event, ...args);
  };
  return {
    get count() {
      return count;
    },
    stop() {
      proto.emit = original;
    },
  };
}
