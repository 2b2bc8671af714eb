// The latency chart of `npm run bench` (docs/bench-latency.svg): for the paced run and the burst of
// the delivery bench, the distribution of send → tab latency per tab count, as cumulative curves on
// a log time axis, next to the bare Node socket of the same run. Plain SVG text, no dependency.

import { STRIP_HEAD, type BenchRow } from './report.ts';
import type { Summary } from './stats.ts';

interface LatencyRow extends BenchRow {
  detail?: { tabs?: number; encrypted?: boolean; value?: { latency?: Summary }; baseline?: { latency?: Summary } };
}

interface Curve {
  label: string;
  color: string;
  dashed: boolean;
  points: [ms: number, fraction: number][];
}

const PANELS = [
  { title: '100 plaintext messages paced 20 ms apart', prefix: 'delivery: latency send → tab, 100 plaintext messages paced' },
  { title: 'burst of 1,000 plaintext messages (queueing included)', prefix: 'delivery: latency send → tab within that 1,000-message burst' },
];
const COLORS = ['#1f77b4', '#ff7f0e', '#d62728', '#2ca02c', '#9467bd'];
const W = 420;
const H = 260;
const M = { left: 46, right: 24, top: 28, bottom: 40 };

/** Cumulative points of a summary: its 21 percentiles, or p50/p99/max where a row predates them. */
function points(s: Summary): [number, number][] {
  if (s.q && s.q.length === 21) return s.q.map((ms, i) => [ms, i / 20]);
  return [[s.p50, 0.5], [s.p99, 0.99], [s.max, 1]];
}

function curvesOf(rows: LatencyRow[], prefix: string): Curve[] {
  // The p50 and p99 rows of one run carry the same detail: take one of them. The tabs of one window
  // (STRIP_HEAD) are a curve of their own, after the others.
  const stripPrefix = prefix.replace('delivery:', STRIP_HEAD);
  const of = (r: LatencyRow) => (r.name.startsWith(prefix) ? 0 : r.name.startsWith(stripPrefix) ? 1 : -1);
  const runs = rows.filter((r) => of(r) >= 0 && r.name.includes(', p50 over') && !r.detail?.encrypted && r.detail?.value?.latency);
  runs.sort((a, b) => of(a) - of(b) || (a.detail!.tabs ?? 0) - (b.detail!.tabs ?? 0));
  const curves: Curve[] = runs.map((r, i) => ({
    label: `${r.detail!.tabs} tab${r.detail!.tabs === 1 ? '' : 's'}${of(r) ? ', one window (1 in front)' : ''}`,
    color: COLORS[i % COLORS.length]!,
    dashed: false,
    points: points(r.detail!.value!.latency!),
  }));
  const bare = runs.find((r) => r.detail?.baseline?.latency)?.detail!.baseline!.latency;
  if (bare) curves.push({ label: 'bare Node socket', color: '#777', dashed: true, points: points(bare) });
  return curves;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(title: string, curves: Curve[], x0: number): string {
  const all = curves.flatMap((c) => c.points.map(([ms]) => ms));
  const lo = Math.max(0.1, Math.min(...all, 1));
  const hi = Math.max(...all, 10);
  const decades = { from: Math.floor(Math.log10(lo)), to: Math.ceil(Math.log10(hi)) };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (ms: number) => x0 + M.left + ((Math.log10(Math.max(ms, 10 ** decades.from)) - decades.from) / (decades.to - decades.from)) * pw;
  const y = (f: number) => M.top + (1 - f) * ph;
  const out: string[] = [`<text x="${x0 + M.left}" y="16" font-size="12" font-weight="bold">${esc(title)}</text>`];
  for (let d = decades.from; d <= decades.to; d++) {
    const ms = 10 ** d;
    out.push(`<line x1="${x(ms)}" y1="${y(0)}" x2="${x(ms)}" y2="${y(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${x(ms)}" y="${y(0) + 14}" font-size="10" text-anchor="middle">${ms >= 1 ? ms : ms.toFixed(1)}</text>`);
  }
  for (const [f, label] of [[0, '0'], [0.5, 'p50'], [0.99, 'p99']] as const) {
    out.push(`<line x1="${x0 + M.left}" y1="${y(f)}" x2="${x0 + M.left + pw}" y2="${y(f)}" stroke="#eee"/>`);
    out.push(`<text x="${x0 + M.left - 4}" y="${y(f) + 3}" font-size="10" text-anchor="end">${label}</text>`);
  }
  out.push(`<text x="${x0 + M.left + pw / 2}" y="${H - 8}" font-size="10" text-anchor="middle">send → tab latency, ms (log)</text>`);
  curves.forEach((c, i) => {
    const d = c.points.map(([ms, f], k) => `${k ? 'L' : 'M'}${x(ms).toFixed(1)},${y(f).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${c.color}" stroke-width="2"${c.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(`<text x="${x0 + M.left + 6}" y="${M.top + 12 + i * 13}" font-size="10" fill="${c.color}">${esc(c.label)}</text>`);
  });
  if (curves.length === 0) out.push(`<text x="${x0 + M.left + 10}" y="${M.top + 20}" font-size="11">no delivery rows in this run</text>`);
  return out.join('\n');
}

/** The chart as SVG text, from the delivery rows among `rows`. */
export function latencyChart(rows: BenchRow[]): string {
  const body = PANELS.map((p, i) => panel(p.title, curvesOf(rows as LatencyRow[], p.prefix), i * W)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * PANELS.length}" height="${H}" font-family="sans-serif">`,
    '<title>aun-worker delivery latency per tab count (npm run bench)</title>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
