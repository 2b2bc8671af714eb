// One row of `npm run bench`: a figure and, where it has one, the baseline measured in the same run;
// the table gives each row that a goal of the project covers its verdict against that goal.

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
}

/** A goal (issue 15): which rows it judges, and how, always against the same run. */
export interface Goal {
  text: string;
  applies: (r: BenchRow) => boolean;
  met: (r: BenchRow) => boolean;
}

/**
 * The head of the delivery rows whose tabs are those of one window, only one in front (a browser
 * draws no background tab): the same goals judge them, as the same tab count in that condition.
 */
export const STRIP_HEAD = 'delivery: tabs of one window, the last opened in front (the others background tabs, not drawn):';

const ratio = (r: BenchRow): number => (r.baseline && r.baseline.unit === r.unit ? r.value / r.baseline.value : NaN);
const plaintextBurst = (tabs: string, head = 'delivery:') => (r: BenchRow) => r.name.startsWith(`${head} 1,000 plaintext message burst`) && r.name.includes(`→ ${tabs} `);
const pacedP99 = (head: string) => (r: BenchRow) => r.name.startsWith(`${head} latency send → tab, 100 plaintext messages paced`) && r.name.includes('→ 20 tabs, p99');

export const GOALS: Goal[] = [
  { text: '≥ 0.6× bare socket', applies: plaintextBurst('1 tab,'), met: (r) => ratio(r) >= 0.6 },
  { text: '≥ 0.3× bare socket', applies: plaintextBurst('20 tabs,'), met: (r) => ratio(r) >= 0.3 },
  { text: '≥ 0.3× bare socket', applies: plaintextBurst('20 tabs,', STRIP_HEAD), met: (r) => ratio(r) >= 0.3 },
  { text: 'p99 ≤ 30 ms', applies: pacedP99('delivery:'), met: (r) => r.value <= 30 },
  { text: 'p99 ≤ 30 ms', applies: pacedP99(STRIP_HEAD), met: (r) => r.value <= 30 },
  { text: '≥ 0.4× bare socket', applies: (r) => r.name.startsWith('delivery: 1,000 E2EE V2 (3DH) message burst') && r.name.includes('→ 1 tab,'), met: (r) => ratio(r) >= 0.4 },
  { text: '≥ 0.75× WebCrypto floor', applies: (r) => r.name.startsWith('e2ee in Chromium SharedWorker, 1 KB JSON:'), met: (r) => ratio(r) >= 0.75 },
  {
    text: '≤ 1.2× the page\'s own WebSocket',
    applies: (r) => r.name.startsWith("browser: aun.call('meta.ping')") && !!r.baseline?.name.startsWith('direct WebSocket'),
    met: (r) => ratio(r) <= 1.2,
  },
  {
    text: 'median ≤ 20 ms',
    applies: (r) => r.name.startsWith('ladder: tab open → ready, leader rung') && r.name.includes('aun:connect mark → #state ready, median'),
    met: (r) => r.value <= 20,
  },
];

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** "met"/"missed" and the goal, for a row some goal covers; "—" otherwise. */
export function verdict(r: BenchRow): string {
  const goal = GOALS.find((g) => g.applies(r));
  return goal ? `${goal.met(r) ? 'met' : 'MISSED'} (goal ${goal.text})` : '—';
}

export function table(rows: BenchRow[]): string {
  const lines = ['| benchmark | value | baseline (same run) | ratio | verdict |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)} ${r.baseline.unit}` : '—';
    const rat = r.baseline && r.baseline.unit === r.unit ? `${fmt(ratio(r))}×` : r.baseline ? 'see units' : '—';
    lines.push(`| ${r.name} | ${fmt(r.value)} ${r.unit} | ${base} | ${rat} | ${verdict(r)} |`);
  }
  return lines.join('\n');
}
