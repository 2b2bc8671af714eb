import { describe, expect, it } from 'vitest';
import { canonicalJsonText } from '../../../worker/e2ee/index.ts';

describe('canonical JSON extras (spec §2 rules 3, 6, 7, 8)', () => {
  it('orders keys by code point, not UTF-16 unit', () => {
    expect(canonicalJsonText({ '\u{10000}': 1, '\uE000': 2 })).toBe('{"\uE000":2,"𐀀":1}');
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
