// A short seeded run of the gateway fuzzer (tests/fuzz/gateway-fuzz.ts) against a gateway child
// process: no crash, no hang, no wrong accept. `npm run fuzz` runs the full count.

import { describe, expect, it } from 'vitest';
import { runGatewayFuzz } from '../fuzz/gateway-fuzz.ts';

describe('gateway fuzz (short seeded run)', () => {
  it('survives structure-aware mutations of every method and raw garbage, before and after login', async () => {
    const result = await runGatewayFuzz({ seed: 13, count: 400, deadlineMs: 25_000 });
    expect(result.notes.filter((n) => !n.includes('unexpected close'))).toEqual([]);
    expect(result.tried).toBeGreaterThan(50);
    expect({ crashes: result.crashes, hangs: result.hangs, wrongAccepts: result.wrongAccepts }).toEqual({ crashes: 0, hangs: 0, wrongAccepts: 0 });
    expect(result.clearErrors).toBeGreaterThan(result.tried / 2);
  }, 120_000);
});
