// The inspector's live chart, in plain SVG: messages per second, delivery latency of inbound
// messages, and each session's connection state over the last two minutes. It keeps its own
// history from the snapshots it is given (the owner keeps only its last events).

import type { InspectorSnapshot } from '../client-stub/index.ts';

const WINDOW_S = 120;
const W = 720;
const ROW = 70;
const NS = 'http://www.w3.org/2000/svg';
const STATE_COLOR: Record<string, string> = {
  ready: '#2e7d32', connecting: '#b26a00', authenticating: '#b26a00', backoff: '#e0a030', idle: '#9aa5b1', evicted: '#b3261e', closed: '#6b7785',
};

type Svg = SVGElement;

function svg(tag: string, attrs: Record<string, string | number>, text?: string): Svg {
  const node = document.createElementNS(NS, tag) as Svg;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export class LiveChart {
  private readonly seen = new Set<string>();
  /** Message events by the second they were handed out. */
  private readonly perSecond = new Map<number, number>();
  private readonly latencies: { at: number; ms: number }[] = [];
  /** Per AID, its state changes in time order. */
  private readonly states = new Map<string, { at: number; state: string }[]>();

  constructor(private readonly root: HTMLElement) {}

  /** Counters for tests and tools: messages seen and latency samples kept. */
  get counts(): { messages: number; latencies: number } {
    return { messages: [...this.perSecond.values()].reduce((a, b) => a + b, 0), latencies: this.latencies.length };
  }

  add(s: InspectorSnapshot, now = Date.now()): void {
    for (const e of s.recent) {
      const key = `${e.aid} ${e.lsn}`;
      if (this.seen.has(key) || !e.name.endsWith('message')) continue;
      this.seen.add(key);
      const sec = Math.floor(e.at / 1000);
      this.perSecond.set(sec, (this.perSecond.get(sec) ?? 0) + 1);
      if (typeof e.sentAt === 'number') this.latencies.push({ at: e.at, ms: Math.max(0, e.at - e.sentAt) });
    }
    for (const x of s.sessions) {
      const list = this.states.get(x.aid) ?? [];
      if (list[list.length - 1]?.state !== x.state) list.push({ at: now, state: x.state });
      this.states.set(x.aid, list);
    }
    const from = now - WINDOW_S * 1000;
    for (const sec of this.perSecond.keys()) if (sec * 1000 < from) this.perSecond.delete(sec);
    while (this.latencies[0] && this.latencies[0].at < from) this.latencies.shift();
    this.render(now);
  }

  private render(now: number): void {
    const from = now - WINDOW_S * 1000;
    const x = (t: number) => ((t - from) / (WINDOW_S * 1000)) * W;
    const aids = [...this.states.keys()];
    const height = ROW * 2 + 24 + aids.length * 18 + 20;
    const root = svg('svg', { viewBox: `0 0 ${W + 150} ${height}`, width: '100%', role: 'img', 'aria-label': 'live chart' });

    // Messages per second: one bar per second.
    const maxRate = Math.max(1, ...this.perSecond.values());
    root.append(svg('text', { x: W + 8, y: 14, class: 'label' }, `messages/s (max ${maxRate})`));
    for (const [sec, n] of this.perSecond) {
      const h = (n / maxRate) * (ROW - 10);
      root.append(svg('rect', { x: x(sec * 1000), y: ROW - h, width: Math.max(1, W / WINDOW_S - 1), height: h, class: 'rate' }));
    }
    root.append(svg('line', { x1: 0, x2: W, y1: ROW, y2: ROW, class: 'axis' }));

    // Delivery latency: one dot per inbound message.
    const top = ROW + 12;
    const maxMs = Math.max(100, ...this.latencies.map((l) => l.ms));
    const last = this.latencies[this.latencies.length - 1];
    root.append(svg('text', { x: W + 8, y: top + 14, class: 'label' }, `latency (max ${Math.round(maxMs)} ms${last ? `, last ${Math.round(last.ms)}` : ''})`));
    for (const l of this.latencies) {
      root.append(svg('circle', { cx: x(l.at), cy: top + ROW - 10 - (l.ms / maxMs) * (ROW - 20), r: 2.5, class: 'latency' }));
    }
    root.append(svg('line', { x1: 0, x2: W, y1: top + ROW - 10, y2: top + ROW - 10, class: 'axis' }));

    // Connection timeline: one band per AID, coloured by state.
    let y = top + ROW + 8;
    for (const aid of aids) {
      const list = this.states.get(aid)!;
      list.forEach((c, i) => {
        const end = list[i + 1]?.at ?? now;
        if (end < from) return;
        const x0 = x(Math.max(c.at, from));
        root.append(svg('rect', { x: x0, y, width: Math.max(1, x(end) - x0), height: 12, fill: STATE_COLOR[c.state] ?? '#9aa5b1', 'data-state': c.state }));
      });
      root.append(svg('text', { x: W + 8, y: y + 10, class: 'label' }, `${aid} · ${list[list.length - 1]!.state}`));
      y += 18;
    }
    root.append(svg('text', { x: 0, y: height - 4, class: 'label' }, `last ${WINDOW_S} s`));
    this.root.replaceChildren(root);
  }
}
