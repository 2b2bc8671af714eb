// The AID rules (spec §4.1) in protocol/aid.ts: what they take and refuse, the plain reason for
// each refusal, and that the dev gateway registers by the very same pattern.
import { describe, expect, it } from 'vitest';
import { AID_PATTERN, aidProblem, isValidAid } from '../../../protocol/aid.ts';
import { AID_PATTERN as GATEWAY_AID_PATTERN } from '../../../gateway/validate.ts';

describe('AID rules', () => {
  it.each([
    'alice.aun.local', 'dave.aun.local', 'bob_.aun.local', '4567.example.com', 'a-b_c.x', `${'a'.repeat(64)}.aun.local`, '_svc.aun.local',
  ])('takes %s', (aid) => {
    expect(aidProblem(aid)).toBeNull();
    expect(isValidAid(aid)).toBe(true);
    expect(AID_PATTERN.test(aid)).toBe(true);
  });

  it.each([
    ['bob.aun.local', /"bob" is too short: at least 4 characters/],
    ['Alice.aun.local', /lower case/],
    ['alice', /issuer .* is missing/],
    ['-alice.aun.local', /does not start with -/],
    ['al ice.aun.local', /only letters a–z, digits, _ and -/],
    ['guest1.aun.local', /"guest" is reserved/],
    [`${'a'.repeat(65)}.aun.local`, /at most 64/],
    ['alice.aun..local', /not a domain/],
    ['alice.', /not a domain/],
    ['', /an AID is needed/],
  ])('refuses %s, saying why', (aid, why) => {
    expect(aidProblem(aid)).toMatch(why);
    expect(AID_PATTERN.test(aid)).toBe(false);
  });

  it('refuses more than 255 characters (a length the gateway checks beside the pattern)', () => {
    expect(aidProblem(`alice.${'a'.repeat(260)}`)).toMatch(/at most 255/);
  });

  it('refuses what is not a string', () => {
    expect(aidProblem(42)).toBe('an AID is needed');
    expect(isValidAid(null)).toBe(false);
  });

  it('is the pattern the dev gateway registers by', () => {
    expect(GATEWAY_AID_PATTERN).toBe(AID_PATTERN);
  });
});
