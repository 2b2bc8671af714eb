import { describe, expect, it } from 'vitest';
import { computeStateCommitment, normalizeGroupId } from '../../../worker/e2ee/index.ts';

const payload = {
  members: [
    { aid: 'bob.pub', devices: [{ device_id: 'b2' }, { device_id: 'b1' }] },
    { aid: 'alice.pub', devices: [{ device_id: 'a1' }] },
  ],
  audit_aids: ['z.pub', 'a.pub'],
  admin_set: { admin_aids: ['bob.pub', 'alice.pub'], threshold: 1 },
  recovery_quorum: { quorum_aids: ['y.pub', 'x.pub'], threshold: 2 },
};
const sorted = {
  members: [
    { aid: 'alice.pub', devices: [{ device_id: 'a1' }] },
    { aid: 'bob.pub', devices: [{ device_id: 'b1' }, { device_id: 'b2' }] },
  ],
  audit_aids: ['a.pub', 'z.pub'],
  admin_set: { admin_aids: ['alice.pub', 'bob.pub'], threshold: 1 },
  recovery_quorum: { quorum_aids: ['x.pub', 'y.pub'], threshold: 2 },
};

describe('computeStateCommitment extras', () => {
  it('does not depend on list order and does not mutate its input', () => {
    const before = JSON.stringify(payload);
    expect(computeStateCommitment('g.pub', 1, payload)).toBe(computeStateCommitment('g.pub', 1, sorted));
    expect(JSON.stringify(payload)).toBe(before);
  });

  it('changes with the epoch and the group', () => {
    const h = computeStateCommitment('g.pub', 1, sorted);
    expect(computeStateCommitment('g.pub', 2, sorted)).not.toBe(h);
    expect(computeStateCommitment('h.pub', 1, sorted)).not.toBe(h);
  });

  it('hashes the normalised group id', () => {
    expect(computeStateCommitment(' G@Pub ', 1, sorted)).toBe(computeStateCommitment('g.pub', 1, sorted));
  });

  it('requires a uint32 epoch', () => {
    expect(() => computeStateCommitment('g.pub', -1, sorted)).toThrow('epoch out of uint32 range: -1');
    expect(() => computeStateCommitment('g.pub', 2 ** 32, sorted)).toThrow('epoch out of uint32 range: 4294967296');
    expect(() => computeStateCommitment('g.pub', 1.5, sorted)).toThrow(/uint32/);
    expect(computeStateCommitment('g.pub', 2 ** 32 - 1, sorted)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('normalizeGroupId', () => {
  it.each([
    ['g-test-group.agentid.pub', 'g-test-group.agentid.pub'],
    ['  /G-Test.AID.com/ ', 'g-test.aid.com'],
    ['g-abc@aid.com', 'g-abc.aid.com'],
    ['group.aid.com/g-abc', 'g-abc.aid.com'],
    ['group.aid.com/g-abc@eu', 'g-abc.eu.aid.com'],
    ['group..aid.com./.g-abc.@eu.', 'g-abc.eu.aid.com'],
    ['bare', 'bare'],
  ])('%j → %j', (input, want) => {
    expect(normalizeGroupId(input)).toBe(want);
  });

  it('appends a local issuer only to a bare name', () => {
    expect(normalizeGroupId('bare', '.AID.com')).toBe('bare.aid.com');
    expect(normalizeGroupId('g.x.com', 'aid.com')).toBe('g.x.com');
  });
});
