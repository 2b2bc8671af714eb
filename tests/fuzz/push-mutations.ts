// Structure-aware mutations of what a gateway writes to a worker: P2P and group pushes, real E2EE
// envelopes (replayed, early, tampered), wrong types, deep nesting and raw garbage. Each input is
// one frame string; forged content carries FORGED_MARK so a tab that shows it is caught.

import type { Rng } from '../e2e/soak/prng.ts';
import type { Envelope } from '../../worker/e2ee/envelope.ts';

export const FORGED_MARK = 'FORGED';

export interface Target {
  aid: string;
  deviceId: string;
  senderAid: string;
  /** An AID that never acts in the run: the forger of group changes. */
  forgerAid: string;
  groupId: string;
  /** The next P2P seq the gateway will give the target's device, as far as the harness knows. */
  nextSeq: number;
  nextGroupSeq: number;
  nextEventSeq: number;
  /** Envelopes already delivered for real. */
  sent: Envelope[];
  /** Envelopes that will be sent for real later (replaying them first is the nastiest case). */
  upcoming: Envelope[];
}

export interface Mutation {
  kind: string;
  frame: string;
}

const frame = (method: unknown, params: unknown) => JSON.stringify({ jsonrpc: '2.0', method, params });
const event = (name: string, params: unknown) => frame(`event/${name}`, params);

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(0, items.length - 1)]!;
}

/** A seq a gateway could lie with: around the truth, at or below the cursor, far ahead, or not a seq at all. */
function seqLie(rng: Rng, next: number): unknown {
  return pick<() => unknown>(rng, [
    () => next,
    () => next + rng.int(1, 5),
    () => Math.max(0, next - rng.int(1, 3)),
    () => 1e9 + rng.int(0, 1000),
    () => Number.MAX_SAFE_INTEGER,
    () => 2 ** 60,
    () => 1e308,
    () => -rng.int(1, 100),
    () => 0,
    () => next + 0.5,
    () => String(next),
    () => null,
    () => ({ seq: next }),
    () => [next],
    () => undefined,
  ])();
}

function forgedText(i: number): string {
  return `${FORGED_MARK} ${i}`;
}

function deep(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function b64garbage(rng: Rng): string {
  return pick(rng, ['!!!!', 'AAA', '====', '', 'not base64 at all', 'A'.repeat(rng.int(1, 40)) + '*', '\u0000\uffff']);
}

/** A real envelope changed in one place: each change must make it unreadable or unaddressed. */
function tamper(rng: Rng, env: Envelope, t: Target): { how: string; json: string } {
  const e = structuredClone(env) as unknown as Record<string, unknown>;
  const aad = e.aad as Record<string, unknown>;
  const how = pick(rng, [
    'aad.to', 'aad.from', 'aad.message_id', 'aad.timestamp', 'ciphertext truncated', 'ciphertext bad base64', 'tag bad base64',
    'signature flipped', 'recipients dropped', 'recipients reordered', 'recipients not an array', 'aad a string', 'ciphertext a number',
    'type', 'suite', 'digest', 'sender_signature missing', 'whole envelope truncated',
  ]);
  switch (how) {
    case 'aad.to': aad.to = t.forgerAid; break;
    case 'aad.from': aad.from = t.forgerAid; break;
    case 'aad.message_id': aad.message_id = `m-${FORGED_MARK}-${rng.int(0, 1e9)}`; break;
    case 'aad.timestamp': aad.timestamp = 1; break;
    case 'ciphertext truncated': e.ciphertext = String(e.ciphertext).slice(0, 8); break;
    case 'ciphertext bad base64': e.ciphertext = b64garbage(rng); break;
    case 'tag bad base64': e.tag = b64garbage(rng); break;
    case 'signature flipped': {
      const s = String(e.sender_signature);
      e.sender_signature = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      break;
    }
    case 'recipients dropped': e.recipients = []; break;
    case 'recipients reordered': if (Array.isArray(e.recipients)) e.recipients = [...(e.recipients as unknown[])].reverse(); break;
    case 'recipients not an array': e.recipients = { aid: t.aid }; break;
    case 'aad a string': e.aad = 'aad'; break;
    case 'ciphertext a number': e.ciphertext = 42; break;
    case 'type': e.type = 'e2ee.group_encrypted'; break;
    case 'suite': e.suite = 'none'; break;
    case 'digest': e.recipients_digest = 'zz'; break;
    case 'sender_signature missing': delete e.sender_signature; break;
    default: return { how, json: JSON.stringify(e).slice(0, rng.int(1, 200)) };
  }
  return { how, json: JSON.stringify(e) };
}

type Maker = (rng: Rng, t: Target, i: number) => Mutation;

const p2pPlain = (rng: Rng, t: Target, params: Record<string, unknown>) => ({
  message_id: `m-${FORGED_MARK}-${rng.int(0, 1e9)}`, from: t.senderAid, to: t.aid, seq: t.nextSeq, timestamp: Date.now(),
  payload: { type: 'text', text: '' }, delivery_mode: 'fanout', encrypted: false, device_id: t.deviceId, slot_id: 'default', direction: 'inbound',
  ...params,
});

const v2Push = (t: Target, seq: unknown, env: Envelope | string, extra: Record<string, unknown> = {}) => ({
  seq, message_id: typeof env === 'string' ? `m-${FORGED_MARK}` : (env.aad as { message_id: string }).message_id, from_aid: t.senderAid,
  device_id: t.deviceId, envelope_json: typeof env === 'string' ? env : JSON.stringify(env), ...extra,
});

const MAKERS: { weight: number; make: Maker }[] = [
  // Forged plaintext at a lied seq, from the real sender or another AID, for this device or another.
  { weight: 6, make: (rng, t, i) => ({ kind: 'forged plaintext', frame: event('message.received', p2pPlain(rng, t, { seq: seqLie(rng, t.nextSeq), payload: { type: 'text', text: forgedText(i) }, from: pick(rng, [t.senderAid, t.forgerAid]) })) }) },
  { weight: 1, make: (rng, t, i) => ({ kind: 'plaintext for another device', frame: event('message.received', p2pPlain(rng, t, { payload: { type: 'text', text: forgedText(i) }, device_id: 'another-device' })) }) },
  // A real envelope replayed at a lied seq: one already delivered, or one that is still to come.
  { weight: 3, make: (rng, t) => (t.sent.length ? { kind: 'replayed envelope', frame: event('peer.v2.message_received', v2Push(t, seqLie(rng, t.nextSeq), pick(rng, t.sent))) } : { kind: 'replay (nothing sent yet)', frame: event('peer.v2.message_received', v2Push(t, t.nextSeq, '{}')) }) },
  { weight: 3, make: (rng, t) => (t.upcoming.length ? { kind: 'early replay', frame: event('peer.v2.message_received', v2Push(t, seqLie(rng, t.nextSeq), t.upcoming[rng.int(0, Math.min(3, t.upcoming.length - 1))]!)) } : { kind: 'early replay (none left)', frame: event('peer.v2.message_received', v2Push(t, t.nextSeq, '')) }) },
  { weight: 4, make: (rng, t) => {
    const env = pick(rng, [...t.sent, ...t.upcoming]);
    if (!env) return { kind: 'tampered (none)', frame: event('peer.v2.message_received', v2Push(t, t.nextSeq, 'null')) };
    const { how, json } = tamper(rng, env, t);
    return { kind: `tampered envelope: ${how}`, frame: event('peer.v2.message_received', v2Push(t, seqLie(rng, t.nextSeq), json)) };
  } },
  { weight: 1, make: (rng, t) => ({ kind: 'envelope_json not a string', frame: event('peer.v2.message_received', { ...v2Push(t, t.nextSeq, '{}'), envelope_json: pick<unknown>(rng, [42, null, { a: 1 }, [], true]) }) }) },
  { weight: 1, make: (rng, t) => ({ kind: 'deep envelope_json', frame: event('peer.v2.message_received', v2Push(t, t.nextSeq, deep(rng.int(1000, 50_000)))) }) },
  { weight: 1, make: (_rng, t) => ({ kind: 'v2 push without envelope', frame: event('peer.v2.message_received', { seq: t.nextSeq, message_id: 'm-x', from_aid: t.senderAid, device_id: t.deviceId }) }) },
  // Groups: forged messages, far-ahead hints, unknown groups, forged membership changes.
  { weight: 4, make: (rng, t, i) => ({ kind: 'forged group message', frame: event('group.message_created', {
    module_id: 'group', group_id: t.groupId, seq: seqLie(rng, t.nextGroupSeq), message_id: `gm-${FORGED_MARK}-${i}`, sender_aid: pick(rng, [t.senderAid, t.forgerAid]),
    message_type: 'text', payload: { type: 'text', text: forgedText(i) }, created_at: Date.now(),
  }) }) },
  { weight: 2, make: (rng, t) => ({ kind: 'group v2 hint', frame: event('group.v2.message_created', { group_id: pick(rng, [t.groupId, `g-${FORGED_MARK.toLowerCase()}${rng.int(0, 50)}.aun.local`, 'x'.repeat(rng.int(256, 4000)), '']), seq: seqLie(rng, t.nextGroupSeq), message_id: 'gm-x', sender_aid: t.forgerAid }) }) },
  { weight: 3, make: (rng, t) => ({ kind: 'forged group change', frame: event('group.changed', {
    module_id: 'group', group_id: t.groupId, action: pick(rng, ['member_removed', 'member_left', 'dissolved', 'member_added', 'joined', 'role_changed']),
    event_seq: seqLie(rng, t.nextEventSeq), actor_aid: t.forgerAid, member_aid: pick(rng, [t.aid, t.forgerAid]), created_at: Date.now(), event_type: 'group.changed',
  }) }) },
  // Wrong shapes for the right events.
  { weight: 3, make: (rng) => ({ kind: 'wrong params type', frame: event(pick(rng, ['message.received', 'peer.v2.message_received', 'group.message_created', 'group.v2.message_created', 'group.changed']), pick<unknown>(rng, [null, 42, 'text', [], [1, 2], true, { seq: {} }, { group_id: 42 }, { device_id: { a: 1 }, seq: 1 }])) }) },
  { weight: 1, make: (rng) => ({ kind: 'deep params', frame: `{"jsonrpc":"2.0","method":"event/message.received","params":${deep(rng.int(1000, 100_000))}}` }) },
  { weight: 1, make: (rng, t) => ({ kind: 'huge payload', frame: event('message.received', p2pPlain(rng, t, { seq: t.nextSeq, payload: { type: 'text', text: `${FORGED_MARK} ${'x'.repeat(rng.int(10_000, 400_000))}` } })) }) },
  // Frames that are not events: unknown methods, answers to calls never made, garbage.
  { weight: 2, make: (rng) => ({ kind: 'odd method', frame: frame(pick<unknown>(rng, ['event/', 'event/message.recalled', 'event/__proto__', 'event/constructor', 'message.received', 42, null, 'event/x'.repeat(100)]), { seq: 1 }) }) },
  { weight: 2, make: (rng) => ({ kind: 'stray answer', frame: JSON.stringify({ jsonrpc: '2.0', id: pick<unknown>(rng, [`fuzz-${rng.int(0, 1e9)}`, -1, 1e15, null, {}]), ...(rng.next() < 0.5 ? { result: { messages: [{ seq: 1 }] } } : { error: { code: -1, message: 'x' } }) }) }) },
  { weight: 2, make: (rng) => ({ kind: 'garbage', frame: pick<() => string>(rng, [
    () => '', () => 'null', () => '[]', () => '{}', () => '{"jsonrpc":"2.0"', () => '\u0000'.repeat(rng.int(1, 100)),
    () => Array.from({ length: rng.int(1, 200) }, () => String.fromCharCode(rng.int(0, 0xffff))).join(''),
    () => JSON.stringify({ jsonrpc: '1.0', method: 'event/message.received', params: {} }),
  ])() }) },
];

const TOTAL_WEIGHT = MAKERS.reduce((s, m) => s + m.weight, 0);

/** The `i`-th mutated input of a run. */
export function mutate(rng: Rng, t: Target, i: number): Mutation {
  let r = rng.next() * TOTAL_WEIGHT;
  for (const m of MAKERS) {
    r -= m.weight;
    if (r < 0) return m.make(rng, t, i);
  }
  return MAKERS[0]!.make(rng, t, i);
}
