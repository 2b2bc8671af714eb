// Structure-aware mutations of JSON values: pick a node of a params tree and replace, drop, grow
// or retype it; plus the hostile leaf values (huge strings, deep nesting, numbers at limits,
// unicode oddities) the gateway must refuse cleanly.

import type { Prng } from './prng.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const NUMBERS = [0, -1, 1, -0, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, 1e21, 4294967296];
const UNICODE = ['\u0000', '\ud800', '\udfff', '\ud83d\ude00', '\u202e', '\u200b', '\ufeff', 'é', '\u0301', '𝔘𝔫𝔦', '\u2028\u2029', 'a\u0000b', '%00', '../../etc/passwd', "'; DROP TABLE agents; --", '${x}', '<script>'];
const KEYS = ['__proto__', 'constructor', 'prototype', '_trace', 'client_signature', 'aid', 'device_id', 'slot_id', 'id', '', 'x'.repeat(300)];

/** An object/array nesting `depth` levels (built as text: a tree this deep is cheap to send, not to build). */
export function deepText(depth: number, open = '{"a":', close = '}'): string {
  return open.repeat(depth) + '1' + close.repeat(depth);
}

export function hugeString(prng: Prng): string {
  const n = prng.pick([10_000, 100_000, 500_000, 990_000]);
  return prng.pick(['x', 'é', '\ud83d\ude00', '"', '\\']).repeat(Math.ceil(n / 2));
}

function nested(prng: Prng, depth: number): Json {
  let v: Json = prng.pick([1, 'x', null, true]);
  for (let i = 0; i < depth; i++) v = prng.chance(0.5) ? { a: v } : [v];
  return v;
}

/** A value of a random shape, sometimes hostile. */
export function randomValue(prng: Prng): Json {
  switch (prng.int(0, 9)) {
    case 0: return null;
    case 1: return prng.chance(0.5);
    case 2: return prng.pick(NUMBERS);
    case 3: return prng.pick(UNICODE);
    case 4: return hugeString(prng);
    case 5: return nested(prng, prng.int(2, 60));
    case 6: return [];
    case 7: return {};
    case 8: return Array.from({ length: prng.int(1, 2000) }, (_, i) => i);
    default: return 'x'.repeat(prng.int(0, 300));
  }
}

/** Every [container, key] pair of the tree, the root's own slots included. */
function slots(root: { [k: string]: Json }): [Json[] | { [k: string]: Json }, string | number][] {
  const out: [Json[] | { [k: string]: Json }, string | number][] = [];
  const walk = (node: Json, depth: number) => {
    if (depth > 8 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) node.slice(0, 20).forEach((v, i) => { out.push([node, i]); walk(v, depth + 1); });
    else for (const [k, v] of Object.entries(node)) { out.push([node, k]); walk(v, depth + 1); }
  };
  walk(root, 0);
  return out;
}

/** Mutates a deep copy of `params` once or a few times; returns the copy and what was done. */
export function mutateParams(prng: Prng, params: Record<string, unknown>): { params: Record<string, unknown>; what: string } {
  const copy = JSON.parse(JSON.stringify(params)) as { [k: string]: Json };
  const done: string[] = [];
  for (let n = prng.int(1, 3); n > 0; n--) {
    const all = slots(copy);
    const op = all.length === 0 ? 'add' : prng.pick(['drop', 'retype', 'retype', 'add', 'number', 'unicode', 'huge', 'deep']);
    if (op === 'add') {
      const target = all.length && prng.chance(0.3) ? all.map(([c]) => c).find((c) => !Array.isArray(c)) ?? copy : copy;
      const key = prng.pick(KEYS);
      (target as { [k: string]: Json })[key] = randomValue(prng);
      done.push(`add ${key.slice(0, 20)}`);
      continue;
    }
    const [container, key] = prng.pick(all);
    const set = (v: Json) => { (container as Record<string | number, Json>)[key] = v; };
    switch (op) {
      case 'drop':
        if (Array.isArray(container)) container.splice(Number(key), 1);
        else delete container[key as string];
        break;
      case 'retype': set(randomValue(prng)); break;
      case 'number': set(prng.pick(NUMBERS)); break;
      case 'unicode': set(prng.pick(UNICODE) + (typeof container[key as never] === 'string' ? (container[key as never] as string) : '')); break;
      case 'huge': set(hugeString(prng)); break;
      case 'deep': set(nested(prng, prng.int(30, 70))); break;
    }
    done.push(`${op} ${String(key).slice(0, 20)}`);
  }
  return { params: copy, what: done.join(', ') };
}
