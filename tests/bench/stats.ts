// Summaries of latency samples: mean and nearest-rank percentiles.

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
  /** Percentiles 0, 5, 10, … 100: the whole distribution, for the latency chart (chart.ts). */
  q?: number[];
}

/** Nearest-rank percentile of an ascending array. */
function rank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) return { n: 0, mean: NaN, p50: NaN, p99: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  const q = Array.from({ length: 21 }, (_, i) => rank(sorted, i * 5));
  return { n: sorted.length, mean, p50: rank(sorted, 50), p99: rank(sorted, 99), max: sorted[sorted.length - 1]!, q };
}
