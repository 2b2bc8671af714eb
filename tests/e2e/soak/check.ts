// What a page rendered, checked against what the sender sent: each `s<n>` exactly once, in its
// conversation, in ascending n per conversation.

import type { Rendered } from './pages.ts';

export interface Expected {
  /** n -> true for a group message, false for 1:1. */
  kinds: Map<number, boolean>;
  /** n -> message id returned by the send (queued or not). */
  ids: Map<number, string>;
}

export interface TabReport {
  label: string;
  /** Distinct expected n found (in the right conversation and direction). */
  found: Set<number>;
  missing: number[];
  /** n -> extra copies beyond the first. */
  duplicated: Map<number, number>;
  /** n shown in the wrong conversation, with the wrong class, or an unexpected text. */
  misplaced: string[];
  /** Where n went down, per conversation: `prev -> next` at DOM index. */
  disorder: { p2p: string[]; group: string[] };
  /** The n that came after a larger one (the overtaken sends). */
  late: number[];
  /** Rendered message id differs from the id the send returned. */
  wrongIds: string[];
  undecryptable: string[];
  duplicateCount: number;
}

const TEXT = /^s(\d+)$/;

/**
 * `direction`: the class the sender's messages must have on this page (`inbound` on the
 * receiver, `outbound` on the sender itself).
 */
export function checkTab(label: string, items: Rendered[], expected: Expected, direction: string, groupId: string): TabReport {
  const counts = new Map<number, number>();
  const order = { p2p: [] as number[], group: [] as number[] };
  const misplaced: string[] = [];
  const wrongIds: string[] = [];
  const undecryptable: string[] = [];
  for (const [i, li] of items.entries()) {
    if (li.cls === 'undecryptable') {
      undecryptable.push(li.text);
      continue;
    }
    const m = TEXT.exec(li.text);
    const n = m ? Number(m[1]) : NaN;
    if (!m || !expected.kinds.has(n)) {
      misplaced.push(`#${i} unexpected ${li.cls} "${li.text}" from "${li.from}"`);
      continue;
    }
    // The feed names a group for people; its id is in data-group-id.
    const isGroup = li.groupId === groupId;
    if (isGroup !== expected.kinds.get(n) || li.cls !== direction) {
      misplaced.push(`#${i} s${n} as ${li.cls} in ${isGroup ? 'the group' : '1:1'} (sent ${expected.kinds.get(n) ? 'to the group' : '1:1'}, want ${direction})`);
      continue;
    }
    const id = expected.ids.get(n);
    if (id && li.messageId !== id) wrongIds.push(`s${n}: rendered ${li.messageId}, send returned ${id}`);
    counts.set(n, (counts.get(n) ?? 0) + 1);
    (isGroup ? order.group : order.p2p).push(n);
  }
  const missing = [...expected.kinds.keys()].filter((n) => !counts.has(n)).sort((a, b) => a - b);
  const duplicated = new Map([...counts].filter(([, c]) => c > 1).map(([n, c]) => [n, c - 1]));
  const descents = (ns: number[]) => ns.flatMap((n, i) => (i > 0 && n <= ns[i - 1]! ? [`s${ns[i - 1]} -> s${n} (at ${i})`] : []));
  const overtaken = (ns: number[]) => {
    let max = -Infinity;
    return ns.filter((n) => {
      const late = n < max;
      max = Math.max(max, n);
      return late;
    });
  };
  return {
    label,
    found: new Set(counts.keys()),
    missing,
    duplicated,
    misplaced,
    disorder: { p2p: descents(order.p2p), group: descents(order.group) },
    late: [...overtaken(order.p2p), ...overtaken(order.group)].sort((a, b) => a - b),
    wrongIds,
    undecryptable,
    duplicateCount: [...duplicated.values()].reduce((a, b) => a + b, 0),
  };
}

/** Compresses [1,2,3,7,9,10] to "1-3,7,9-10" (capped) for failure messages. */
export function ranges(ns: number[], cap = 60): string {
  const parts: string[] = [];
  for (let i = 0; i < ns.length; i++) {
    let j = i;
    while (j + 1 < ns.length && ns[j + 1] === ns[j]! + 1) j++;
    parts.push(i === j ? `${ns[i]}` : `${ns[i]}-${ns[j]}`);
    i = j;
  }
  return parts.length > cap ? `${parts.slice(0, cap).join(',')},… (${ns.length} in all)` : parts.join(',');
}

export function describeReport(r: TabReport): string {
  const lines = [`${r.label}: found ${r.found.size}, missing ${r.missing.length}, duplicated ${r.duplicateCount}`];
  if (r.missing.length) lines.push(`  missing n: ${ranges(r.missing)}`);
  if (r.duplicated.size) lines.push(`  duplicated n (extra copies): ${[...r.duplicated].slice(0, 60).map(([n, c]) => `${n}x${c}`).join(',')}`);
  if (r.disorder.p2p.length) lines.push(`  1:1 out of order: ${r.disorder.p2p.slice(0, 20).join('; ')}${r.disorder.p2p.length > 20 ? ` … (${r.disorder.p2p.length})` : ''}`);
  if (r.disorder.group.length) lines.push(`  group out of order: ${r.disorder.group.slice(0, 20).join('; ')}${r.disorder.group.length > 20 ? ` … (${r.disorder.group.length})` : ''}`);
  if (r.misplaced.length) lines.push(`  misplaced: ${r.misplaced.slice(0, 20).join('; ')}`);
  if (r.wrongIds.length) lines.push(`  wrong message ids: ${r.wrongIds.slice(0, 10).join('; ')}`);
  if (r.undecryptable.length) lines.push(`  undecryptable: ${r.undecryptable.slice(0, 10).join('; ')}`);
  return lines.join('\n');
}
