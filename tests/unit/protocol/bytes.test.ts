import { describe, expect, it } from 'vitest';
import {
  base64Length,
  decodeBase64Into,
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromHex,
  fromUtf8,
  hexInto,
  isBase64,
  isHexOf,
  pemToDer,
  splitPemBundle,
  toBase64,
  toBase64Url,
  toHex,
  utf8,
  utf8Bound,
  utf8Fit,
  utf8Into,
} from '../../../protocol/bytes.ts';

const BYTES = new Uint8Array([0xfb, 0xff, 0x00, 0x10, 0x83]);

describe('base64', () => {
  it('round-trips standard and url-safe forms', () => {
    expect(toBase64(BYTES)).toBe('+/8AEIM=');
    expect(fromBase64('+/8AEIM=')).toEqual(BYTES);
    expect(toBase64Url(BYTES)).toBe('-_8AEIM');
    expect(fromBase64Url('-_8AEIM')).toEqual(BYTES);
  });

  it('decodes only strict padded standard base64, so one value has one encoding', () => {
    for (const bad of ['+/8AEIM', '+/8AEIM==', '-_8AEIM=', '+/8A EIM=', 'A===', '=AAA', 'AA=A', 'AAAA====', '====', 'AAA\n']) {
      expect(() => fromBase64(bad), bad).toThrow(/invalid base64/);
      expect(isBase64(bad), bad).toBe(false);
    }
    for (const good of ['', 'AA==', 'AAA=', 'AAAA', 'AAAAAA==', 'AAAAAAA=']) expect(isBase64(good), good).toBe(true);
  });

  it('decodes small and large values to arrays of their own, of their exact length', () => {
    for (const bytes of [BYTES, new Uint8Array(64).fill(7), new Uint8Array(1040).fill(0xa5)]) {
      const text = toBase64(bytes);
      const a = fromBase64(text);
      const b = fromBase64(text);
      expect(a).toEqual(bytes);
      expect(a.buffer).not.toBe(b.buffer);
      expect(a.length).toBe(bytes.length);
    }
  });

  it('decodes only unpadded base64url', () => {
    for (const bad of ['-_8AEIM=', '+/8AEIM', 'A', '-_8 AEIM']) expect(() => fromBase64Url(bad), bad).toThrow(/invalid base64url/);
  });
});

describe('decoding and encoding in place', () => {
  it('decodeBase64Into writes what fromBase64 returns at the start of its target, and base64Length says how much', () => {
    for (const bytes of [new Uint8Array(0), BYTES, BYTES.subarray(0, 4), BYTES.subarray(0, 3), new Uint8Array(1040).fill(0xa5)]) {
      const text = toBase64(bytes);
      expect(base64Length(text)).toBe(bytes.length);
      const dest = new Uint8Array(bytes.length + 4).fill(9);
      expect(decodeBase64Into(text, dest.subarray(2))).toBe(bytes.length);
      expect(dest.subarray(2, 2 + bytes.length)).toEqual(bytes);
      expect([dest[0], dest[1], dest[bytes.length + 2]]).toEqual([9, 9, 9]);
      const again = new Uint8Array(bytes.length + 1).fill(9);
      expect(decodeBase64Into(text, again)).toBe(bytes.length);
      expect(again).toEqual(Uint8Array.of(...bytes, 9));
    }
    // decodeBase64Into takes text isBase64 accepted; fromBase64 is the checking door to it.
    expect(() => fromBase64('+/8')).toThrow('invalid base64');
    expect(() => fromBase64('+/8= ')).toThrow('invalid base64');
  });

  it('utf8Into writes what utf8 returns, within utf8Bound (exact for ASCII, lone surrogates included)', () => {
    for (const text of ['', 'ascii only \u007f', 'aé日😀', '\ud800x', 'x\udfff']) {
      const dest = new Uint8Array(utf8Bound(text));
      const n = utf8Into(text, dest);
      expect(dest.subarray(0, n)).toEqual(utf8(text));
      expect(n).toBe(utf8(text).length);
    }
    expect(utf8Bound('abc')).toBe(3);
    // Short ASCII is copied by a loop; long text, non-ASCII text and a short target go to the encoder.
    for (const text of ['a'.repeat(512), 'a'.repeat(513), 'a'.repeat(300) + 'é', 'é' + 'a'.repeat(10)]) {
      const dest = new Uint8Array(utf8Bound(text) + 2).fill(9);
      expect(utf8Into(text, dest.subarray(1, -1))).toBe(utf8(text).length);
      expect(dest.subarray(1, 1 + utf8(text).length)).toEqual(utf8(text));
      expect([dest[0], dest[utf8(text).length + 1]]).toEqual([9, 9]);
    }
    const short = new Uint8Array(4);
    expect(utf8Into('abcdef', short)).toBe(4);
    expect(short).toEqual(utf8('abcd'));
  });
});

describe('hex, UTF-8, comparison', () => {
  it('round-trips hex and keeps the reference error texts', () => {
    expect(toHex(BYTES)).toBe('fbff001083');
    expect(fromHex('FBff001083')).toEqual(BYTES);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toHex(all)).toBe([...all].map((x) => x.toString(16).padStart(2, '0')).join(''));
    expect(fromHex(toHex(all))).toEqual(all);
    expect(fromHex(toHex(all).toUpperCase())).toEqual(all);
    expect(() => fromHex('abc')).toThrow('hex length must be even');
    expect(() => fromHex('zz')).toThrow('invalid hex char');
  });

  it('tells whether a text is exactly the lowercase hex of some bytes', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(isHexOf(all, toHex(all))).toBe(true);
    expect(isHexOf(new Uint8Array(0), '')).toBe(true);
    expect(isHexOf(BYTES, 'fbff001083')).toBe(true);
    for (const other of ['FBff001083', 'fbff00108', 'fbff0010830', 'fbff001084', 'ebff001083', 'fbff00108g', ' fbff00108']) {
      expect(isHexOf(BYTES, other), other).toBe(false);
    }
  });

  it('decodes hex into a given array, with the same checks', () => {
    const dest = new Uint8Array(8).fill(0xee);
    expect(hexInto('FBff001083', dest.subarray(2))).toBe(5);
    expect(dest).toEqual(Uint8Array.of(0xee, 0xee, 0xfb, 0xff, 0x00, 0x10, 0x83, 0xee));
    expect(hexInto('', dest)).toBe(0);
    expect(() => hexInto('abc', dest)).toThrow('hex length must be even');
    expect(() => hexInto('0g', dest)).toThrow('invalid hex char');
    expect(dest[0]).toBe(0xee);
  });

  it('writes UTF-8 only when all of it fits', () => {
    const dest = new Uint8Array(8);
    expect(utf8Fit('abc', dest)).toBe(3);
    expect(fromUtf8(dest.subarray(0, 3))).toBe('abc');
    expect(utf8Fit('a'.repeat(8), dest)).toBe(8);
    expect(utf8Fit('a'.repeat(9), dest)).toBeUndefined();
    expect(utf8Fit('aéb', dest.subarray(0, 3))).toBeUndefined();
    expect(utf8Fit('aéb', dest.subarray(0, 4))).toBe(4);
    expect(fromUtf8(dest.subarray(0, 4))).toBe('aéb');
    expect(utf8Fit('\u{1f600}', dest.subarray(0, 3))).toBeUndefined();
    expect(utf8Fit('', dest.subarray(0, 0))).toBe(0);
  });

  it('decodes UTF-8 strictly', () => {
    expect(fromUtf8(utf8('é✓'))).toBe('é✓');
    expect(() => fromUtf8(new Uint8Array([0xc3]))).toThrow();
  });

  it('compares contents and lengths', () => {
    expect(equalBytes(BYTES, BYTES.slice())).toBe(true);
    expect(equalBytes(BYTES, BYTES.subarray(1))).toBe(false);
  });
});

describe('PEM', () => {
  const block = (label: string, b64: string): string => `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
  const bundle = block('CERTIFICATE', 'AQID') + block('PRIVATE KEY', 'BAUG') + block('CERTIFICATE', 'BwgJ');

  it('splits a bundle into its certificate blocks and reads the first block of any label', () => {
    expect(splitPemBundle(bundle).map(pemToDer)).toEqual([new Uint8Array([1, 2, 3]), new Uint8Array([7, 8, 9])]);
    expect(pemToDer(block('PRIVATE KEY', 'BA\r\n UG'))).toEqual(new Uint8Array([4, 5, 6]));
  });

  it('rejects text without a PEM block and a body that is not strict base64', () => {
    expect(() => pemToDer('AQID')).toThrow(/not a PEM block/);
    expect(() => pemToDer(block('CERTIFICATE', 'AQI'))).toThrow(/invalid base64/);
  });
});
