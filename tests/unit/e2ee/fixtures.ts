// Fixed test keys and a helper for typed rejections, shared by the E2EE unit tests.

import { sha256 } from '@noble/hashes/sha2.js';
import { expect } from 'vitest';
import { E2eeError, fromBase64, privateKeyFromScalar, utf8, type E2eeErrorReason, type P256PrivateKey } from '../../../worker/e2ee/index.ts';

/** ALICE_PRIV of the reference fixtures (the golden ECDSA vectors' key). */
export const ALICE_PRIV = fromBase64('pixVw1Nzw9kwG88AXzwvln1EDj59XpREtdl19ohv84E=');

export const testKey = (name: string): P256PrivateKey => privateKeyFromScalar(sha256(utf8(`unit test key ${name}`)));

export const alice = privateKeyFromScalar(ALICE_PRIV);
export const bob = testKey('bob');
export const bobSpk = testKey('bob-spk');
export const carol = testKey('carol');
export const audit = testKey('audit');

/** Awaits a promise that must reject with an E2eeError of this reason (and message token). */
export async function expectE2eeError(p: Promise<unknown>, reason: E2eeErrorReason, token?: string): Promise<E2eeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(E2eeError);
  const e2ee = err as E2eeError;
  expect(e2ee.reason, e2ee.message).toBe(reason);
  if (token) expect(e2ee.message).toContain(token);
  return e2ee;
}
