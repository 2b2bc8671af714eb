// A short seeded run of the worker half of the fuzz harness (issue 13): mutated pushes and
// envelopes into a logged-in worker, malformed messages into its port. No crash, no hang, no
// forged message shown, no real message lost or doubled. `npm run fuzz` runs the full counts.

import { describe, expect, it } from 'vitest';
import { failed } from '../fuzz/report.ts';
import { runWorkerFuzz } from '../fuzz/worker-fuzz.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x13f0);

describe('worker fuzz (short)', () => {
  it('survives mutated pushes and port garbage without a wrong accept or a lost message', async () => {
    const sections = await runWorkerFuzz({ seed: SEED, pushes: 300, portMessages: 200, deadlineMs: 30_000 });
    for (const s of sections) console.log(`${s.name}: ${JSON.stringify({ ...s, notes: undefined })}\n  ${s.notes.join('\n  ')}`);
    expect(sections.map((s) => s.name)).toEqual(['worker pushes', 'worker port']);
    for (const s of sections) {
      expect(s.tried, `${s.name}: inputs tried`).toBeGreaterThan(50);
      expect({ name: s.name, crashes: s.crashes, hangs: s.hangs, wrongAccepts: s.wrongAccepts, lost: s.lost, failed: failed(s) })
        .toEqual({ name: s.name, crashes: 0, hangs: 0, wrongAccepts: 0, lost: 0, failed: false });
    }
  }, 240_000);
});
