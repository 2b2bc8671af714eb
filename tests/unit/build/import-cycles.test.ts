// The layering holds as the code changes: no import cycle among the repo's source files (type
// imports included, since a type cycle ties two files as tightly for a reader), and none of the
// lower layers imports from a layer above it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const DIRS = ['protocol', 'worker', 'gateway', 'client-stub', 'vite-plugin', 'push-agent', 'demo'];
const SPEC = /(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/gs;

function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** file (relative to the repo) → the repo files it imports. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of DIRS.flatMap((d) => sources(join(ROOT, d)))) {
    const deps: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(SPEC)) {
      const target = normalize(join(dirname(file), m[1] ?? m[2]!));
      if (existsSync(target)) deps.push(relative(ROOT, target));
    }
    g.set(relative(ROOT, file), deps);
  }
  return g;
}

/** The strongly connected components with more than one file (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        comp.push(w);
        if (w === v) break;
      }
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('import structure', () => {
  const g = graph();

  it('reads the whole source tree', () => {
    expect(g.size).toBeGreaterThan(100);
    expect(g.get('protocol/methods.ts')).toContain('protocol/wire-common.ts');
  });

  it('has no import cycle', () => {
    expect(cycles(g)).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
  });

  it('protocol/ imports nothing outside itself; worker/net imports only protocol/', () => {
    const outside = (prefix: string, allowed: string[]) =>
      [...g].filter(([f]) => f.startsWith(prefix)).flatMap(([f, deps]) => deps.filter((d) => !allowed.some((a) => d.startsWith(a))).map((d) => `${f} → ${d}`));
    expect(outside('protocol/', ['protocol/'])).toEqual([]);
    expect(outside('worker/net/', ['worker/net/', 'protocol/'])).toEqual([]);
  });
});
