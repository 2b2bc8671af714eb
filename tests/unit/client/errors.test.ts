// A failed call crosses the port as plain data; the tab gets the typed error back.
import { describe, expect, it } from 'vitest';
import { errorFromWire, PermissionError, AunError } from '../../../client-stub/index.ts';

describe('errorFromWire', () => {
  it('rebuilds a known class with its code, data and retryable flag', () => {
    const e = errorFromWire({ name: 'PermissionError', code: -32403, message: 'no', data: { m: 'x' } });
    expect(e).toBeInstanceOf(PermissionError);
    expect(e).toMatchObject({ code: -32403, message: 'no', data: { m: 'x' }, retryable: false });
    expect(errorFromWire({ name: 'RateLimitError', code: 429, message: 'slow down', retryable: true }).retryable).toBe(true);
  });

  it('keeps the name of a worker-only class', () => {
    const e = errorFromWire({ name: 'StoreBlockedError', code: -32603, message: 'an old tab holds the database' });
    expect(e).toBeInstanceOf(AunError);
    expect(e.name).toBe('StoreBlockedError');
  });
});
