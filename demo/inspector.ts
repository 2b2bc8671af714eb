// The inspector: what the owner holds, refreshed every second, no browser devtools needed, with
// a live chart of messages per second, delivery latency and the connection timeline.
import type { InspectorSnapshot } from '../client-stub/index.ts';
import { openClient } from './connect.ts';
import { LiveChart } from './inspector-chart.ts';

const $ = (id: string) => document.getElementById(id)!;

function table(el: HTMLElement, head: string[], rows: (string | number)[][]): void {
  const tr = (cells: (string | number)[], tag: 'th' | 'td') => {
    const row = document.createElement('tr');
    for (const c of cells) {
      const cell = document.createElement(tag);
      cell.textContent = String(c);
      row.append(cell);
    }
    return row;
  };
  el.replaceChildren(tr(head, 'th'), ...rows.map((r) => tr(r, 'td')));
}

const time = (ms: number) => new Date(ms).toLocaleTimeString();

/** `steppedDown`: why this page's client runs below the first rung it tried (the owner cannot know). */
function render(s: InspectorSnapshot, steppedDown: string | null): void {
  $('owner').textContent = `rung ${s.rung}${steppedDown ? ` (stepped down ${steppedDown})` : ''} · incarnation ${s.incarnation} · build ${s.build} · up since ${time(s.startedAt)}`;
  document.body.dataset.tabs = String(s.tabs.length);
  document.body.dataset.sessions = String(s.sessions.length);
  table($('sessions'), ['aid', 'state', 'tabs', 'in-flight calls', 'last lsn', 'outbox', 'cursors', 'detail'],
    s.sessions.map((x) => [x.aid, x.state, x.tabs, x.pendingCalls, x.lastLsn, x.outbox,
      Object.entries(x.cursors).map(([k, v]) => `${k}=${v}`).join(' '), JSON.stringify(x.detail)]));
  table($('tabs'), ['tab', 'aid', 'build', 'subscriptions', 'attached', 'sent lsn', 'acked lsn', 'lagging'],
    s.tabs.map((t) => [t.id.slice(0, 8), t.aid ?? '—', t.build, t.subscriptions.join(' '), time(t.attachedAt), t.sentLsn, t.ackedLsn, t.lagging ? 'yes' : 'no']));
  table($('recent'), ['at', 'aid', 'event', 'lsn'], [...s.recent].reverse().map((e) => [time(e.at), e.aid, e.name, e.lsn]));
}

async function main(): Promise<void> {
  const client = await openClient({ devRoot: false });
  const chart = new LiveChart($('chart'));
  Object.assign(globalThis, { aun: client, chart });
  const tick = async () => {
    try {
      const snap = await client.inspect();
      render(snap, client.rungReason);
      chart.add(snap);
      $('error').textContent = '';
    } catch (e) {
      $('error').textContent = String(e);
    }
  };
  await tick();
  setInterval(() => void tick(), 1000);
  document.body.dataset.ready = '1';
}

main().catch((e) => ($('error').textContent = String(e)));
