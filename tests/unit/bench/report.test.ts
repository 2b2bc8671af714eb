// The bench's verdict column and latency chart: each goal row judged against its same-run baseline,
// and one curve per tab count next to the bare socket, drawn from the rows as results.json keeps them.

import { describe, expect, it } from 'vitest';
import { latencyChart } from '../../bench/chart.ts';
import { STRIP_HEAD, table, verdict, type BenchRow } from '../../bench/report.ts';
import { summarize } from '../../bench/stats.ts';

const burst = (tabs: string, value: number, base: number): BenchRow => ({
  name: `delivery: 1,000 plaintext message burst from a Node sender → ${tabs}, first send → shown in every tab (1 ms)`,
  value,
  unit: 'msg/s',
  baseline: { name: 'bare Node aun-client Session', value: base, unit: 'msg/s' },
});

describe('verdict', () => {
  it('judges a goal row by its ratio to the same-run baseline, and leaves other rows alone', () => {
    expect(verdict(burst('1 tab', 700, 1000))).toBe('met (goal ≥ 0.6× bare socket)');
    expect(verdict(burst('1 tab', 500, 1000))).toBe('MISSED (goal ≥ 0.6× bare socket)');
    expect(verdict(burst('20 tabs', 300, 1000))).toBe('met (goal ≥ 0.3× bare socket)');
    expect(verdict({ name: 'gateway: RSS at idle', value: 100, unit: 'MiB' })).toBe('—');
    const e2ee = (value: number): BenchRow => ({ name: 'e2ee in Chromium SharedWorker, 1 KB JSON: encryptP2P → 1 device, 1DH (1 ops in 1.5 s)', value, unit: 'ops/s', baseline: { name: 'floor', value: 1000, unit: 'ops/s' } });
    expect(verdict(e2ee(800))).toMatch(/^met/);
    expect(verdict(e2ee(700))).toMatch(/^MISSED/);
    // The @noble rows are on record, not judged.
    expect(verdict({ ...e2ee(1), name: 'e2ee in Chromium SharedWorker, 1 KB JSON, pure-@noble path (scalar keys): x' })).toBe('—');
  });

  it('leaves the runs under another condition (busy machine, pages not drawn) unjudged', () => {
    for (const head of ['delivery: busy machine (a process spinning on 1 of 2 cores beside it):', "delivery: pages not drawn (body display:none; the runtime and the demo's handler, no layout or paint):"]) {
      const r = burst('1 tab', 700, 1000);
      expect(verdict({ ...r, name: r.name.replace('delivery:', head) })).toBe('—');
    }
  });

  it('judges the tabs of one window (one in front) by the same goals as that tab count', () => {
    const r = burst('20 tabs', 300, 1000);
    expect(verdict({ ...r, name: r.name.replace('delivery:', STRIP_HEAD) })).toBe('met (goal ≥ 0.3× bare socket)');
    expect(verdict({ ...r, value: 200, name: r.name.replace('delivery:', STRIP_HEAD) })).toBe('MISSED (goal ≥ 0.3× bare socket)');
    const p99 = (value: number): BenchRow => ({ name: `${STRIP_HEAD} latency send → tab, 100 plaintext messages paced 20 ms apart → 20 tabs, p99 over (tab, message)`, value, unit: 'ms' });
    expect(verdict(p99(29))).toBe('met (goal p99 ≤ 30 ms)');
    expect(verdict(p99(31))).toBe('MISSED (goal p99 ≤ 30 ms)');
  });

  it('is a column of the table', () => {
    const t = table([burst('1 tab', 700, 1000)]);
    expect(t.split('\n')[0]).toContain('| verdict |');
    expect(t).toContain('| 0.70× | met (goal ≥ 0.6× bare socket) |');
  });
});

describe('latencyChart', () => {
  const row = (tabs: number, samples: number[], p: 'p50' | 'p99' = 'p50'): BenchRow & { detail: object } => ({
    name: `delivery: latency send → tab, 100 plaintext messages paced 20 ms apart → ${tabs} tabs, ${p} over (tab, message)`,
    value: 1,
    unit: 'ms',
    detail: { tabs, encrypted: false, value: { latency: summarize(samples) }, baseline: { latency: summarize([0.5, 0.6, 0.7]) } },
  });

  it('draws one curve per tab count and the bare socket dashed, each once', () => {
    const svg = latencyChart([row(1, [1, 2, 3]), row(1, [1, 2, 3], 'p99'), row(20, [10, 20, 300])]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(1);
    expect(svg).toContain('>1 tab<');
    expect(svg).toContain('>20 tabs<');
    expect(svg).not.toContain('NaN');
  });

  it('draws the tabs of one window as a curve of their own', () => {
    const strip = row(20, [5, 9, 29]);
    const svg = latencyChart([row(20, [10, 20, 300]), { ...strip, name: strip.name.replace('delivery:', STRIP_HEAD) }]);
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg).toContain('>20 tabs<');
    expect(svg).toContain('>20 tabs, one window (1 in front)<');
  });

  it('says so when a run has no delivery rows', () => {
    expect(latencyChart([])).toContain('no delivery rows in this run');
  });
});
