// The hub's fan-out of logged events to tabs: one `events` frame per tab per committed batch, in
// lsn order, only the names each tab subscribed to, with the per-tab flow control (TAB_WINDOW,
// lagging, resync, acks) counted per event inside a batch.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ATTACH, TAB_PROTOCOL, type AttachMessage, type LoggedEventName, type OwnerFacade, type OwnerFrame } from '../../../protocol/tab.ts';
import { Hub, TAB_WINDOW, type PublishedEvent, type Tab } from '../../../worker/hub/hub.ts';

const AID = 'alice.aun.local';
const channels: MessageChannel[] = [];
afterEach(() => channels.splice(0).forEach((c) => { c.port1.close(); c.port2.close(); }));

function channel(): MessageChannel {
  const ch = new MessageChannel();
  channels.push(ch);
  return ch;
}

function newHub(): Hub {
  return new Hub({
    incarnation: 'i1', build: 'test', builtAt: 0, rung: () => 'shared',
    facade: () => ({}) as OwnerFacade,
    onDetach: () => {},
  });
}

/** Attaches a tab, waits for hello; returns its record in the hub and the frames it receives after hello. */
async function attach(hub: Hub, tabId: string, eventsText: boolean | null = true): Promise<{ tab: Tab; frames: OwnerFrame[] }> {
  const port = channel();
  const rpc = channel();
  const events = channel();
  const frames: OwnerFrame[] = [];
  const hello = new Promise<void>((resolve) => {
    events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => {
      if (ev.data.t === 'hello') resolve();
      else frames.push(ev.data);
    };
  });
  hub.accept(port.port2 as unknown as MessagePort);
  const msg: AttachMessage = {
    type: ATTACH, tabId, tabLock: '', protocol: TAB_PROTOCOL, build: 'test', builtAt: 0, ...(eventsText === null ? {} : { eventsText }),
    rpc: rpc.port2 as unknown as MessagePort, events: events.port2 as unknown as MessagePort,
  };
  port.port1.postMessage(msg, [msg.rpc, msg.events] as unknown as Transferable[]);
  await hello;
  const tab = hub.list().find((t) => t.id === tabId)!;
  return { tab, frames };
}

async function loggedIn(hub: Hub, tabId: string, names: LoggedEventName[] = ['message'], eventsText: boolean | null = true): Promise<{ tab: Tab; frames: OwnerFrame[] }> {
  const t = await attach(hub, tabId, eventsText);
  hub.bind(t.tab, AID, 0);
  hub.subscribe(t.tab, names, true);
  return t;
}

const events = (from: number, n: number, name: LoggedEventName = 'message'): PublishedEvent[] =>
  Array.from({ length: n }, (_, i) => ({ lsn: from + i, name, data: { i: from + i } as never }));

/** Lets the frames posted so far arrive. */
const delivered = () => new Promise((r) => setTimeout(r, 20));

/** An events frame's list, read from its JSON text as a tab does. */
const listOf = (f: Extract<OwnerFrame, { t: 'events' }>): PublishedEvent[] => (typeof f.list === 'string' ? JSON.parse(f.list) as PublishedEvent[] : f.list);
const lsns = (f: OwnerFrame) => (f.t === 'events' ? listOf(f).map((e) => e.lsn) : []);

describe('Hub.publishLogged', () => {
  it('posts one events frame per tab for a batch, in lsn order', async () => {
    const hub = newHub();
    const a = await loggedIn(hub, 'a');
    const b = await loggedIn(hub, 'b');
    hub.publishLogged(AID, events(1, 50));
    hub.publishLogged(AID, events(51, 3));
    await delivered();
    for (const t of [a, b]) {
      expect(t.frames.map((f) => f.t)).toEqual(['events', 'events']);
      expect(t.frames.flatMap(lsns)).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
      expect(t.tab.sentLsn).toBe(53);
    }
  });

  it('sends each tab only the names it subscribed to, and nothing to tabs of another AID or none', async () => {
    const hub = newHub();
    const messages = await loggedIn(hub, 'm', ['message']);
    const groups = await loggedIn(hub, 'g', ['group.message', 'group.changed']);
    const other = await attach(hub, 'o');
    hub.bind(other.tab, 'bob.aun.local', 0);
    hub.subscribe(other.tab, ['message'], true);
    const unbound = await attach(hub, 'u');
    hub.subscribe(unbound.tab, ['message'], true);
    hub.publishLogged(AID, [...events(1, 2), ...events(3, 2, 'group.message'), ...events(5, 1)]);
    hub.publishLogged(AID, events(6, 2, 'group.changed'));
    await delivered();
    expect(messages.frames.map(lsns)).toEqual([[1, 2, 5]]);
    expect(groups.frames.map(lsns)).toEqual([[3, 4], [6, 7]]);
    expect(other.frames).toEqual([]);
    expect(unbound.frames).toEqual([]);
  });

  it('a tab that reaches its window inside a batch gets the events before it, then resync, then nothing until it catches up', async () => {
    const hub = newHub();
    const slow = await loggedIn(hub, 'slow');
    const fast = await loggedIn(hub, 'fast');
    const half = TAB_WINDOW / 2 + 100;
    hub.publishLogged(AID, events(1, half));
    hub.ack(fast.tab, half, half);
    hub.publishLogged(AID, events(half + 1, half));
    await delivered();
    // The slow tab never acked: TAB_WINDOW events, then resync at the first one it did not get.
    expect(slow.frames.map((f) => f.t)).toEqual(['events', 'events', 'resync']);
    expect(slow.frames.flatMap(lsns)).toEqual(Array.from({ length: TAB_WINDOW }, (_, i) => i + 1));
    expect(slow.frames[2]).toEqual({ t: 'resync', aid: AID, lastLsn: TAB_WINDOW + 1 });
    expect(slow.tab.lagging).toBe(true);
    // The fast tab acked in between: it got everything.
    expect(fast.frames.map((f) => f.t)).toEqual(['events', 'events']);
    expect(fast.frames.flatMap(lsns)).toHaveLength(2 * half);
    expect(fast.tab.lagging).toBe(false);

    // Paused: the next batch skips the lagging tab entirely.
    hub.publishLogged(AID, events(2 * half + 1, 5));
    await delivered();
    expect(slow.frames).toHaveLength(3);
    expect(fast.frames.flatMap(lsns).at(-1)).toBe(2 * half + 5);

    // It caught up from the log: resync to read what was logged while paused, then live again.
    const last = 2 * half + 5;
    hub.ack(slow.tab, last, last);
    expect(slow.tab.lagging).toBe(false);
    hub.publishLogged(AID, events(last + 1, 2));
    await delivered();
    expect(slow.frames.slice(3)).toEqual([
      { t: 'resync', aid: AID, lastLsn: last },
      { t: 'events', list: JSON.stringify(events(last + 1, 2)) },
    ]);
  });

  it('writes a batch as JSON text once for all the tabs that take the same events', async () => {
    const hub = newHub();
    const tabs = [await loggedIn(hub, 'a'), await loggedIn(hub, 'b'), await loggedIn(hub, 'c')];
    const some = await loggedIn(hub, 'some', ['group.message']);
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      hub.publishLogged(AID, events(1, 20));
      expect(stringify).toHaveBeenCalledTimes(1);
      // The three tabs take the same part of this one, the fourth another.
      hub.publishLogged(AID, [...events(21, 2), ...events(23, 1, 'group.message')]);
      expect(stringify).toHaveBeenCalledTimes(3);
    } finally {
      stringify.mockRestore();
    }
    await delivered();
    for (const t of tabs) {
      expect(t.frames.map((f) => f.t === 'events' && typeof f.list)).toEqual(['string', 'string']);
      expect(t.frames.flatMap(lsns)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    }
    expect(some.frames).toEqual([{ t: 'events', list: JSON.stringify(events(23, 1, 'group.message')) }]);
  });

  it('posts the list itself to a tab of an earlier build, which does not read the text, next to one that does', async () => {
    const hub = newHub();
    const before = await loggedIn(hub, 'before', ['message'], null);
    const now = await loggedIn(hub, 'now');
    hub.publishLogged(AID, events(1, 3));
    await delivered();
    expect(before.frames).toEqual([{ t: 'events', list: events(1, 3) }]);
    expect(now.frames).toEqual([{ t: 'events', list: JSON.stringify(events(1, 3)) }]);
  });

  it('refuses an attach whose eventsText is not a boolean', async () => {
    const logs: string[] = [];
    const hub = new Hub({ incarnation: 'i1', build: 'test', builtAt: 0, rung: () => 'shared', facade: () => ({}) as OwnerFacade, onDetach: () => {}, log: (l) => logs.push(l) });
    const port = channel();
    const rpc = channel();
    const events = channel();
    const frames: unknown[] = [];
    events.port1.onmessage = (ev) => frames.push(ev.data);
    hub.accept(port.port2 as unknown as MessagePort);
    port.port1.postMessage({ type: ATTACH, tabId: 'odd', tabLock: '', protocol: TAB_PROTOCOL, build: 'test', builtAt: 0, eventsText: 'yes', rpc: rpc.port2, events: events.port2 }, [rpc.port2, events.port2] as unknown as Transferable[]);
    await delivered();
    expect(logs).toContain('ignored a malformed attach message');
    expect(frames).toEqual([]);
    expect(hub.list()).toEqual([]);
  });

  it('posts as a list what JSON cannot write (a BigInt)', async () => {
    const hub = newHub();
    const a = await loggedIn(hub, 'a');
    const odd: PublishedEvent = { lsn: 1, name: 'message', data: { payload: { n: 10n } } as never };
    hub.publishLogged(AID, [odd]);
    await delivered();
    expect(a.frames).toEqual([{ t: 'events', list: [odd] }]);
  });

  it('keeps the last 50 events for the inspector, also from one large batch', async () => {
    const hub = newHub();
    hub.publishLogged(AID, events(1, 30));
    hub.publishLogged(AID, events(31, 200));
    expect(hub.recent().map((r) => r.lsn)).toEqual(Array.from({ length: 50 }, (_, i) => 181 + i));
  });
});
