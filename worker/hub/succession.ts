// One active owner per origin and base name, across builds. A SharedWorker is matched by URL and
// name, not by its code, so each build runs under a versioned name (`aun-worker@<build>`) and the
// owners of different builds agree here, through a Web Lock and a BroadcastChannel, which one
// serves the tabs:
//   - the active owner holds `aun-active:<base>`;
//   - a starting owner that cannot take it posts `claim`;
//   - an active owner that hears a claim from a newer build drains (finishes in-flight work,
//     commits what it received, closes its sockets), tells its tabs to move, and lets the lock go;
//   - an active owner that hears a claim from an older (or the same) build answers `active`, and
//     the claimant sends its tabs to it instead (they are told an update is required).

import { isNewer, type OwnerAddress } from '../../protocol/tab.ts';

type SuccessionMessage =
  | { t: 'claim'; from: OwnerAddress }
  | { t: 'active'; to: string; owner: OwnerAddress }
  /** A new owner became active: claimants that waited behind the previous one claim again. */
  | { t: 'active-now'; owner: OwnerAddress };

export interface SuccessionOptions {
  /** The unversioned worker name shared by every build. */
  base: string;
  me: OwnerAddress;
  locks: LockManager;
  /** Hands over to `to`: drain, tell the tabs, and resolve when this owner may go. */
  drain(to: OwnerAddress): Promise<void>;
  /** Called after the lock is released at the end of a handoff. */
  retired?(): void;
  log?: (line: string) => void;
  channel?: (name: string) => BroadcastChannel;
}

function isMessage(data: unknown): data is SuccessionMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  const addr = (a: unknown) => typeof a === 'object' && a !== null && typeof (a as OwnerAddress).name === 'string'
    && typeof (a as OwnerAddress).url === 'string' && typeof (a as OwnerAddress).builtAt === 'number' && typeof (a as OwnerAddress).protocol === 'number';
  if (m.t === 'claim') return addr(m.from);
  if (m.t === 'active') return typeof m.to === 'string' && addr(m.owner);
  if (m.t === 'active-now') return addr(m.owner);
  return false;
}

/**
 * Resolves with null once this owner is the active one, or with the address of the active owner
 * its tabs should use instead (a newer or equal build that keeps running).
 */
export function succession(opts: SuccessionOptions): Promise<OwnerAddress | null> {
  const { me, locks, log } = opts;
  const lockName = `aun-active:${opts.base}`;
  const bc = (opts.channel ?? ((n) => new BroadcastChannel(n)))(`aun-succession:${opts.base}`);
  let active = false;
  let draining = false;
  let release: (() => void) | null = null;
  const waiting = new AbortController();

  const hold = () => new Promise<void>((r) => (release = r));

  return new Promise<OwnerAddress | null>((resolve) => {
    const becomeActive = () => {
      active = true;
      resolve(null);
      bc.postMessage({ t: 'active-now', owner: me } satisfies SuccessionMessage);
      log?.(`active owner (build ${me.build})`);
      return hold();
    };

    bc.onmessage = (ev: MessageEvent) => {
      const m = ev.data;
      if (!isMessage(m)) return;
      if (m.t === 'claim' && active && !draining) {
        if (isNewer(m.from, me)) {
          draining = true;
          log?.(`build ${m.from.build} claims the origin: draining`);
          void opts.drain(m.from).catch((e: unknown) => log?.(`drain: ${(e as Error).message}`)).finally(() => {
            release?.();
            bc.close();
            opts.retired?.();
          });
        } else {
          bc.postMessage({ t: 'active', to: m.from.name, owner: me } satisfies SuccessionMessage);
        }
      } else if (m.t === 'active' && m.to === me.name && !active) {
        waiting.abort();
        bc.close();
        log?.(`build ${m.owner.build} is active: sending tabs there`);
        resolve(m.owner);
      } else if (m.t === 'active-now' && !active && m.owner.name !== me.name) {
        bc.postMessage({ t: 'claim', from: me } satisfies SuccessionMessage);
      }
    };

    void locks.request(lockName, { ifAvailable: true }, (lock) => {
      if (lock) return becomeActive();
      // Someone is active: ask it to hand over (or to tell us where it is), and queue for the lock.
      locks.request(lockName, { signal: waiting.signal }, becomeActive).catch(() => {});
      bc.postMessage({ t: 'claim', from: me } satisfies SuccessionMessage);
      return undefined;
    });
  });
}
