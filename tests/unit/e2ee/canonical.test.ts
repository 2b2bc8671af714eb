import { describe, expect, it } from 'vitest';
import { canonicalJsonText } from '../../../worker/e2ee/index.ts';

describe('canonical JSON extras (spec §2 rules 3, 6, 7, 8)', () => {
  it('orders keys by code point, not UTF-16 unit', () => {
    expect(canonicalJsonText({ '\u{10000}': 1, '\uE000': 2 })).toBe('{"\uE000":2,"𐀀":1}');
  });

  it('orders keys as code points even with lone surrogates, shared prefixes and mixed planes', () => {
    // The order of keys by their code point arrays, compared one by one: the rule itself.
    const points = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0)!);
    const byPoints = (a: string, b: string): number => {
      const [x, y] = [points(a), points(b)];
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length;
    };
    const units = [0x41, 0x61, 0x7f, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xffff];
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 200; round++) {
      const keys = new Set<string>();
      while (keys.size < 6) keys.add(String.fromCharCode(...Array.from({ length: 1 + next(4) }, () => units[next(units.length)]!)));
      const obj = Object.fromEntries([...keys].map((k, i) => [k, i]));
      const want = '{' + [...keys].sort(byPoints).map((k) => `${JSON.stringify(k).replace(/\\u(d[89a-f][0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))}:${obj[k]}`).join(',') + '}';
      expect(canonicalJsonText(obj)).toBe(want);
    }
  });

  it('expands exponents and folds integral floats and -0', () => {
    expect(canonicalJsonText(1e-7)).toBe('0.0000001');
    expect(canonicalJsonText(-1.5e-7)).toBe('-0.00000015');
    expect(canonicalJsonText(1.0)).toBe('1');
    expect(canonicalJsonText(-0)).toBe('0');
    expect(canonicalJsonText(0.1)).toBe('0.1');
  });

  it('throws outside the safe integer range and on non-JSON values', () => {
    expect(canonicalJsonText(2 ** 53 - 1)).toBe('9007199254740991');
    expect(() => canonicalJsonText(2 ** 53)).toThrow(/integer outside safe range/);
    expect(() => canonicalJsonText(-(2 ** 53))).toThrow(/integer outside safe range/);
    expect(() => canonicalJsonText(Number.NaN)).toThrow();
    expect(() => canonicalJsonText({ a: undefined })).toThrow();
    expect(() => canonicalJsonText(1n)).toThrow();
  });

  it('escapes only what §2 rule 5 lists', () => {
    expect(canonicalJsonText('a\u0001b\u007f/\u2028\t')).toBe('"a\\u0001b\u007f/\u2028\\t"');
  });
});
