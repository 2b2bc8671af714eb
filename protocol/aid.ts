// The AID rules (spec §4.1), stated once: the worker checks new identities with them, the dev
// gateway registers by them, and the demo's forms explain them with the same words.

/** `{name}.{issuer}`: name 4–64 of a–z 0–9 _ - (not starting with `-` or `guest`), issuer a lower-case domain. */
export const AID_PATTERN = /^(?!guest)[a-z0-9_][a-z0-9_-]{3,63}\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;
/** The name part alone (before the first dot). */
export const AID_NAME_PATTERN = /^[a-z0-9_][a-z0-9_-]{3,63}$/;
export const AID_NAME_MIN = 4;
export const AID_NAME_MAX = 64;
/** The longest AID the gateway takes. */
export const AID_MAX_LENGTH = 255;

/** The rules in one sentence, for messages and form hints. */
export const AID_RULES =
  'an AID is name.issuer in lower case: the name 4–64 letters a–z, digits, _ or -, not starting with - or "guest"; the issuer a domain (the dev gateway\'s is aun.local), e.g. alice.aun.local';

/** Why `aid` is not a valid AID, in plain words; null when it is one. */
export function aidProblem(aid: unknown): string | null {
  if (typeof aid !== 'string' || aid === '') return 'an AID is needed';
  if (aid.length > AID_MAX_LENGTH) return `an AID has at most ${AID_MAX_LENGTH} characters`;
  if (aid !== aid.toLowerCase()) return 'an AID is lower case';
  const dot = aid.indexOf('.');
  if (dot < 0) return 'an AID is name.issuer, e.g. alice.aun.local: the issuer (after the first dot) is missing';
  const name = aid.slice(0, dot);
  const issuer = aid.slice(dot + 1);
  if (name.length < AID_NAME_MIN) return `the name "${name}" is too short: at least ${AID_NAME_MIN} characters (e.g. ${name.padEnd(AID_NAME_MIN, name.slice(-1) || 'x')}.${issuer || 'aun.local'})`;
  if (name.length > AID_NAME_MAX) return `the name is too long: at most ${AID_NAME_MAX} characters`;
  if (!AID_NAME_PATTERN.test(name)) return 'the name takes only letters a–z, digits, _ and -, and does not start with -';
  if (name.startsWith('guest')) return 'a name starting with "guest" is reserved';
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(issuer)) return `the issuer "${issuer}" is not a domain (letters a–z, digits, - and dots)`;
  return null;
}

export function isValidAid(aid: unknown): aid is string {
  return aidProblem(aid) === null;
}
