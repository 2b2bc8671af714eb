// E2EE rows of `npm run bench`: operations per second of worker/e2ee on a 1 KB JSON payload, timed
// inside a SharedWorker in Chromium (tests/bench/e2ee-page/), each next to the WebCrypto calls that
// operation makes, timed alone in the same worker in the same run.
//
// Scenarios: P2P to one device by 1DH (no prekey), to one device by 3DH, to three devices of one
// AID by 3DH (shared IK, one SPK each); a group message to 10 members of one device each, all 3DH
// (the costliest mix). Each decrypt row decrypts that message as one recipient device.
//
// Baseline, the floor native crypto sets: the WebCrypto calls one operation must make (counted by
// instrumenting crypto.subtle during one run, not assumed), made alone, each awaited in turn, on
// keys imported beforehand, as one "floor operation". Those calls include the imports no cache
// can save: each fresh AES key (the master key, every wrap key) and, on decrypt, the message's
// ephemeral key. Imports of keys that outlive the message (peer IKs and SPKs, cached by
// worker/e2ee) are counted apart and named in the baseline when an operation makes any. The
// operation and its floor alternate in 100 ms slices, so that both see the same load on a shared
// machine, and each side's rate is its median slice's. What the operation spends above its floor is JS (point checks, HKDF, SHA-256, HMAC,
// canonical JSON, base64) and async overhead. Each primitive is also timed alone, in a pass before
// and a pass after the scenarios: their mean gives each call's share of the floor. Each operation
// also gets a row for its pure-@noble path (scalar keys, no WebCrypto EC handles) against its
// WebCrypto path of the same run: the speed-up on record.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withWorkerPage } from '../support/worker-page.ts';
import { PRIMITIVES, type BenchInfo, type E2eeBenchApi, type Primitive, type Rate, type Scenario, type ScenarioResult, type Timing } from './e2ee-page/api.ts';
import type { BenchRow } from './report.ts';

const PAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'e2ee-page');
const PRIMITIVE_TIMING: Timing = { warmupMs: 100, ms: 600 };
const OP_TIMING: Timing = { warmupMs: 200, ms: 2000 };

const SCENARIOS: Record<Scenario, { encrypt: string; decrypt: string }> = {
  'p2p-1dh': { encrypt: 'encryptP2P → 1 device, 1DH', decrypt: 'decryptEnvelope, P2P 1DH' },
  'p2p-3dh': { encrypt: 'encryptP2P → 1 device, 3DH', decrypt: 'decryptEnvelope, P2P 3DH' },
  'p2p-3dev': { encrypt: 'encryptP2P → 3 devices of one AID, 3DH each', decrypt: 'decryptEnvelope, P2P to 3 devices, as one of them (3DH)' },
  'group-10': { encrypt: 'encryptGroup → 10 members × 1 device, all 3DH', decrypt: 'decryptEnvelope, group message to 10, as one member (3DH)' },
};

const ALL = Object.keys(PRIMITIVES) as Primitive[];
const SHORT: Record<Primitive, string> = {
  ecdhDerive: 'ECDH deriveBits',
  ecdhKeygen: 'ECDH keygen+export',
  ecdsaSign: 'ECDSA sign',
  ecdsaVerify: 'ECDSA verify',
  aesEncrypt1k: 'AES-GCM enc 1 KB',
  aesDecrypt1k: 'AES-GCM dec 1 KB',
  aesWrap: 'AES-GCM enc 32 B',
  aesUnwrap: 'AES-GCM dec 32 B',
  importEcdhSpki: 'import ECDH SPKI (the ephemeral key)',
  importEcdsaSpki: 'import ECDSA SPKI',
  importAesRaw: 'import AES key',
};

interface DetailedRow extends BenchRow {
  detail?: Record<string, unknown>;
}

type Page = { e2eeBench: E2eeBenchApi };

const kps = (perSec: number) => (perSec >= 1000 ? `${(perSec / 1000).toFixed(1)} k/s` : `${perSec.toFixed(0)}/s`);

/** Seconds one operation spends in `prims` when each call costs what it cost alone. */
function secondsIn(uses: Partial<Record<Primitive, number>>, rates: Record<Primitive, number>, prims: Primitive[]): number {
  return prims.reduce((s, p) => s + (uses[p] ?? 0) / rates[p], 0);
}

function row(
  label: string,
  op: Rate,
  floorOp: Rate,
  uses: Partial<Record<Primitive, number>>,
  avoidable: Partial<Record<Primitive, number>>,
  rates: Record<Primitive, number>,
  detail: Record<string, unknown>,
): DetailedRow {
  const floorSeconds = secondsIn(uses, rates, ALL);
  const extra = secondsIn(avoidable, rates, ALL);
  const parts = ALL.filter((p) => uses[p])
    .map((p) => ({ p, n: uses[p]!, share: uses[p]! / rates[p] / floorSeconds }))
    .sort((a, b) => b.share - a.share);
  const list = parts.map(({ p, n, share }) => `${n > 1 ? `${n}× ` : ''}${SHORT[p]} ${kps(rates[p])} (${(share * 100).toFixed(0)} %)`).join(' + ');
  const avoidableCalls = ALL.reduce((s, p) => s + (avoidable[p] ?? 0), 0);
  const note = avoidableCalls ? `; it also re-imports ${avoidableCalls} peer keys a cache would keep (with them ${(1 / (floorSeconds + extra)).toFixed(0)} ops/s)` : '';
  return {
    name: `e2ee in Chromium SharedWorker, 1 KB JSON: ${label} (median of 100 ms slices, ${op.ops} ops in ${(op.ms / 1000).toFixed(1)} s)`,
    value: op.perSec,
    unit: 'ops/s',
    baseline: {
      name: `WebCrypto floor, the calls it must make timed alone in the same worker, alternating with it: ${list}${note}`,
      value: floorOp.perSec,
      unit: 'ops/s',
    },
    detail: {
      ...detail, uses, avoidable, floor: floorOp, floorFromPrimitivePassesOpsPerSec: 1 / floorSeconds, floorWithAvoidableOpsPerSec: 1 / (floorSeconds + extra), measured: op,
    },
  };
}

/** The same operation on the pure-@noble path, against the WebCrypto path timed in the same run. */
function nobleRow(label: string, noble: Rate, webCrypto: Rate): DetailedRow {
  return {
    name: `e2ee in Chromium SharedWorker, 1 KB JSON, pure-@noble path (scalar keys: ECDH and signing in JS): ${label} (${noble.ops} ops in ${(noble.ms / 1000).toFixed(1)} s)`,
    value: noble.perSec,
    unit: 'ops/s',
    baseline: { name: 'the WebCrypto path of the same operation, same run', value: webCrypto.perSec, unit: 'ops/s' },
    detail: { measured: noble },
  };
}

export async function benchE2ee(): Promise<BenchRow[]> {
  return withWorkerPage(
    PAGE_ROOT,
    async (page) => {
      const t0 = Date.now();
      const info: BenchInfo = await page.evaluate(() => (globalThis as unknown as Page).e2eeBench.info());
      if (info.scope !== 'SharedWorkerGlobalScope') throw new Error(`e2ee bench ran in ${info.scope}, not a SharedWorker`);
      if (info.payloadBytes !== 1024 || !info.keysWithoutScalar) throw new Error(`e2ee bench setup: ${JSON.stringify(info)}`);
      const primitives = (t: Timing) => page.evaluate((tt) => (globalThis as unknown as Page).e2eeBench.primitives(tt), t);
      const before = await primitives(PRIMITIVE_TIMING);
      const results: ScenarioResult[] = [];
      for (const s of Object.keys(SCENARIOS) as Scenario[]) {
        results.push(await page.evaluate(([ss, tt]) => (globalThis as unknown as Page).e2eeBench.scenario(ss, tt), [s, OP_TIMING] as const));
      }
      const after = await primitives(PRIMITIVE_TIMING);
      const rates = Object.fromEntries(
        (Object.keys(PRIMITIVES) as Primitive[]).map((p) => [p, (before[p].perSec + after[p].perSec) / 2]),
      ) as Record<Primitive, number>;
      console.error(`[bench] e2ee in ${info.scope} (${info.userAgent}): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const primitiveDetail = Object.fromEntries(
        (Object.keys(PRIMITIVES) as Primitive[]).map((p) => [PRIMITIVES[p], { before: before[p].perSec, after: after[p].perSec }]),
      );
      return results.flatMap((r) => {
        const label = SCENARIOS[r.scenario];
        const detail = { scenario: r.scenario, wrapProtocol: r.wrapProtocol, devices: r.devices, envelopeBytes: r.envelopeBytes, primitivesOpsPerSec: primitiveDetail };
        return [
          row(label.encrypt, r.encrypt, r.floorEncrypt, r.uses.encrypt, r.avoidable.encrypt, rates, { ...detail, op: 'encrypt' }),
          row(label.decrypt, r.decrypt, r.floorDecrypt, r.uses.decrypt, r.avoidable.decrypt, rates, { ...detail, op: 'decrypt' }),
          nobleRow(label.encrypt, r.nobleEncrypt, r.encrypt),
          nobleRow(label.decrypt, r.nobleDecrypt, r.decrypt),
        ];
      });
    },
    { label: 'e2ee bench' },
  );
}
