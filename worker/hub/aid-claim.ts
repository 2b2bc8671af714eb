// One gateway session per AID in the origin, whatever rung each owner runs on. Before an owner
// opens the long connection of an AID it holds the Web Lock `aun-session:<aid>/<device>/<slot>`,
// until the session closes or drains (or the owner dies: the browser releases it). An owner that
// finds the lock held asks the holder, over BroadcastChannel `aun-session:<aid>`, where it runs;
// the holder answers with its rung and address, and the asking owner's tabs go there instead.
// A holder that cannot take other tabs (a `single` owner) is not followed: the asker waits for
// the lock instead.

import { holderOf, type SessionHolder } from '../../protocol/tab.ts';

type ClaimMessage = { t: 'who' } | { t: 'here'; holder: SessionHolder };

export type Claim =
  /** This owner holds the session; `release` lets the lock go (close, drain). */
  | { held: true; release(): void }
  /** Another owner of the origin holds it and serves tabs: send this AID's tabs there. */
  | { held: false; holder: SessionHolder };

export interface ClaimOptions {
  aid: string;
  deviceId: string;
  slotId: string;
  /** What this owner answers when it holds the lock and another owner asks. */
  me: SessionHolder;
  locks: LockManager;
  channel?: (name: string) => BroadcastChannel;
  /** How often the question is asked again while the lock is held by an owner that has not answered. */
  askEveryMs?: number;
}

const ASK_EVERY_MS = 250;

export const sessionLockName = (aid: string, deviceId: string, slotId: string) => `aun-session:${aid}/${deviceId}/${slotId}`;

/** Whether a tab attached elsewhere can be sent to this holder. */
const servesTabs = (h: SessionHolder) => (h.rung === 'shared' && h.address !== null) || h.rung === 'leader';

/**
 * Takes the session lock of `aid`, or learns who holds it. Resolves once the lock is granted, or
 * once a holder that serves tabs answered (the lock request is then withdrawn).
 */
export function claimSession(opts: ClaimOptions): Promise<Claim> {
  const { locks, me } = opts;
  const open = opts.channel ?? ((n: string) => new BroadcastChannel(n));
  const name = sessionLockName(opts.aid, opts.deviceId, opts.slotId);
  const bus = open(`aun-session:${opts.aid}`);
  const waiting = new AbortController();
  let settled = false;
  let asking: ReturnType<typeof setInterval> | undefined;

  return new Promise<Claim>((resolve, reject) => {
    const stopAsking = () => {
      clearInterval(asking);
      bus.onmessage = null;
    };
    bus.onmessage = (ev: MessageEvent<ClaimMessage>) => {
      const m = ev.data;
      const holder = m?.t === 'here' ? holderOf({ heldBy: m.holder }) : null;
      if (settled || !holder || !servesTabs(holder)) return;
      settled = true;
      stopAsking();
      bus.close();
      waiting.abort();
      resolve({ held: false, holder });
    };
    locks.request(name, { signal: waiting.signal }, () => {
      if (settled) return undefined;
      settled = true;
      stopAsking();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      // The holder answers every asker until it lets go; it stops answering first, so nobody is
      // sent to an owner that no longer holds the session.
      bus.onmessage = (ev: MessageEvent<ClaimMessage>) => {
        if (ev.data?.t === 'who') bus.postMessage({ t: 'here', holder: me } satisfies ClaimMessage);
      };
      resolve({
        held: true,
        release: () => {
          bus.onmessage = null;
          bus.close();
          release();
        },
      });
      return held;
    }).catch((err: unknown) => {
      if (settled) return;
      settled = true;
      stopAsking();
      bus.close();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
    const ask = () => {
      if (!settled) bus.postMessage({ t: 'who' } satisfies ClaimMessage);
    };
    // Asked after the lock request is queued: a holder that answers is one that was there first.
    queueMicrotask(ask);
    asking = setInterval(ask, opts.askEveryMs ?? ASK_EVERY_MS);
  });
}
