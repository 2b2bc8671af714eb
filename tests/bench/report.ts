// One row of `npm run bench`: a figure and, where it has one, the baseline measured in the same run.

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function table(rows: BenchRow[]): string {
  const lines = ['| benchmark | value | baseline (same run) | ratio |', '|---|---|---|---|'];
  for (const r of rows) {
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)} ${r.baseline.unit}` : '—';
    const ratio = r.baseline && r.baseline.unit === r.unit ? `${fmt(r.value / r.baseline.value)}×` : r.baseline ? 'see units' : '—';
    lines.push(`| ${r.name} | ${fmt(r.value)} ${r.unit} | ${base} | ${ratio} |`);
  }
  return lines.join('\n');
}
