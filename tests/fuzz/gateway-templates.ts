// One well-formed params object per method of protocol/methods.ts, the seeds the gateway fuzzer
// mutates. The map is keyed by MethodName, so a method added to the protocol without a template
// here fails to compile.

import { randomBytes } from 'node:crypto';
import type { MethodName } from '../../protocol/methods.ts';
import { makeSpk, type Identity } from '../support/aun-client.ts';

export interface TemplateContext {
  /** The identity whose long socket carries the post-login inputs. */
  alice: Identity;
  bob: Identity;
  /** A group alice owns with bob in it. */
  groupId: string;
  /** The challenge nonce of the socket the input goes to (auth.connect). */
  nonce: string;
}

const mid = () => `fz-${randomBytes(8).toString('hex')}`;
/** A well-formed group id on the same issuer that names no group. */
const gone = (c: TemplateContext) => `g-000000000000.${c.groupId.split('.').slice(1).join('.')}`;

export const TEMPLATES: { readonly [M in MethodName]: (c: TemplateContext) => Record<string, unknown> } = {
  'auth.create_aid': (c) => ({ aid: `fz${randomBytes(4).toString('hex')}.${c.alice.aid.split('.').slice(1).join('.')}`, public_key: c.bob.spkiB64, curve: 'P-256' }),
  'auth.aid_login1': (c) => ({ aid: c.alice.aid, cert: c.alice.cert, client_nonce: randomBytes(12).toString('base64') }),
  // Credentials that were never issued or are spent: any token this yields is a wrong accept.
  'auth.aid_login2': (c) => ({ aid: c.alice.aid, request_id: 'req-000000000000', nonce: randomBytes(24).toString('base64url'), client_time: String(Math.floor(Date.now() / 1000)), signature: c.alice.signDer('x') }),
  'auth.refresh_token': (c) => ({ refresh_token: 'rt-' + randomBytes(32).toString('base64url'), aid: c.alice.aid, sdk_lang: 'typescript' }),
  // Nonces never handed out: a certificate this yields is a wrong accept.
  'auth.renew_cert': (c) => ({ aid: c.alice.aid, request_id: 'req-000000000000', nonce: randomBytes(24).toString('base64url'), signature: c.alice.signDer('x') }),
  'auth.rekey': (c) => ({ aid: c.alice.aid, request_id: 'req-000000000000', nonce: randomBytes(24).toString('base64url'), new_public_key: c.bob.spkiB64, signature: c.alice.signDer('x') }),
  'auth.connect': (c) => ({
    nonce: c.nonce,
    auth: { method: 'kite_token', token: c.bob.accessToken },
    protocol: { min: '1.0', max: '1.0' },
    device: { id: 'fz-device', type: 'sdk' },
    client: { slot_id: 'fz', sdk_lang: 'typescript', sdk_version: 'fuzz' },
    delivery_mode: { mode: 'fanout', routing: '', affinity_ttl_ms: 0 },
    options: { kind: 'short', short_ttl_ms: 30_000 },
    extra_info: { app: 'fuzz' },
  }),
  'auth.logout': () => ({}),
  'meta.ping': () => ({}),
  'meta.status': () => ({}),
  'message.send': (c) => ({ to: c.bob.aid, payload: { type: 'text', text: 'fuzz' }, message_id: mid(), timestamp: Date.now(), encrypted: false }),
  'message.v2.pull': () => ({ after_seq: 0, limit: 10 }),
  'message.v2.ack': () => ({ up_to_seq: 1 }),
  'message.v2.put_peer_pk': (c) => ({ ...makeSpk(c.alice).fields }),
  'message.v2.bootstrap': (c) => ({ peer_aid: c.bob.aid, e2ee_wrap_capabilities: { version: '2', per_device_wrap: true } }),
  'message.query_online': (c) => ({ aids: [c.bob.aid, c.alice.aid] }),
  'group.create': () => ({ name: 'fuzz', visibility: 'private', join_mode: 'invite_only', description: 'd' }),
  'group.add_member': (c) => ({ group_id: c.groupId, aid: c.bob.aid, role: 'member' }),
  'group.kick': (c) => ({ group_id: c.groupId, aid: c.bob.aid }),
  'group.remove_member': (c) => ({ group_id: c.groupId, aid: c.bob.aid }),
  'group.leave': (c) => ({ group_id: c.groupId }),
  'group.get_members': (c) => ({ group_id: c.groupId, page: 1, size: 20 }),
  'group.get_online_members': (c) => ({ group_id: c.groupId }),
  'group.list_my': () => ({ page: 1, size: 20 }),
  'group.get_info': (c) => ({ group_id: c.groupId, required: ['members'] }),
  'group.v2.put_group_pk': (c) => ({ group_id: c.groupId, ...makeSpk(c.alice, 'group_device_prekey').fields }),
  'group.v2.bootstrap': (c) => ({ group_id: c.groupId }),
  'group.v2.send': (c) => ({ group_id: c.groupId, envelope: { type: 'e2ee.group_encrypted', version: 'v2', epoch: 1, aad: { message_id: mid() } } }),
  'group.send': (c) => ({ group_id: c.groupId, payload: { type: 'text', text: 'fuzz' }, message_id: mid() }),
  'group.v2.pull': (c) => ({ group_id: c.groupId, after_seq: 0, limit: 10 }),
  'group.v2.ack': (c) => ({ group_id: c.groupId, up_to_seq: 1 }),
  'group.pull_events': (c) => ({ group_id: c.groupId, after_event_seq: 0, limit: 10 }),
  'group.ack_events': (c) => ({ group_id: c.groupId, event_seq: 1 }),
  'group.get_state': (c) => ({ group_id: c.groupId }),
  'group.v2.get_proposal': (c) => ({ group_id: c.groupId }),
  'group.v2.propose_state': (c) => ({ group_id: c.groupId, state_version: 1 }),
  'group.v2.confirm_state': () => ({ proposal_id: 'p-1' }),
  'push.update_config': (c) => ({ push_notify_aid: `notifier.${c.alice.aid.split('.').slice(1).join('.')}`, push_token: 'fz-token' }),
  'push.ack': () => ({ batch_id: 'pb-unknown' }),
  'message.ack': () => ({ seq: 1 }),
  'message.pull': () => ({ after_seq: 0, limit: 10 }),
  'message.recall': () => ({ message_ids: [mid()] }),
  'message.thought.put': (c) => ({ to: c.bob.aid, payload: { type: 'e2ee.v2', ciphertext: 'AA' }, encrypted: true, thought_id: mid(), context: { type: 'message', id: mid() } }),
  'message.thought.get': (c) => ({ sender_aid: c.bob.aid, context: { type: 'message', id: 'm-1' } }),
  'group.ack_messages': (c) => ({ group_id: c.groupId, msg_seq: 1 }),
  'group.recall': (c) => ({ group_id: c.groupId, message_ids: [mid()], reason: 'fuzz' }),
  // The destructive ones name a group that does not exist, so the fuzzed group stays usable.
  'group.set_role': (c) => ({ group_id: gone(c), aid: c.bob.aid, role: 'admin' }),
  'group.transfer_owner': (c) => ({ group_id: gone(c), new_owner: c.bob.aid }),
  'group.dissolve': (c) => ({ group_id: gone(c) }),
  'group.suspend': (c) => ({ group_id: gone(c) }),
  'group.resume': (c) => ({ group_id: gone(c) }),
  'group.create_invite_code': (c) => ({ group_id: c.groupId, max_uses: 1, expires_in_seconds: 60 }),
  'group.use_invite_code': () => ({ code: 'ic-000000000000' }),
  'group.list_invite_codes': (c) => ({ group_id: c.groupId }),
  'group.revoke_invite_code': (c) => ({ group_id: c.groupId, code: 'ic-000000000000' }),
  'group.request_join': (c) => ({ group_id: c.groupId, message: 'fuzz', answer: 'fuzz' }),
  'group.list_join_requests': (c) => ({ group_id: c.groupId, status: 'pending' }),
  'group.review_join_request': (c) => ({ group_id: c.groupId, aid: c.bob.aid, approve: true }),
  'group.batch_review_join_request': (c) => ({ group_id: c.groupId, requests: [{ aid: c.bob.aid, approve: false, reason: 'fuzz' }] }),
  'group.list': () => ({ size: 10 }),
  'group.bind_group_aid': (c) => ({ group_id: c.groupId, public_key: c.bob.spkiB64, curve: 'P-256' }),
  'group.renew_group_aid': (c) => ({ group_id: c.groupId, old_public_key: c.alice.spkiB64, new_public_key: c.bob.spkiB64, renew_proof: { nonce: '0'.repeat(32), issued_ms: Date.now(), signature: c.alice.signDer('x') } }),
  'group.complete_transfer': (c) => ({ group_id: c.groupId, public_key: c.bob.spkiB64, curve: 'P-256', transfer_accept: { nonce: '0'.repeat(32), issued_ms: Date.now(), signature: c.bob.signDer('x') } }),
  'group.pull': (c) => ({ group_id: c.groupId, after_message_seq: 0, limit: 50 }),
  'group.ack': (c) => ({ group_id: c.groupId, msg_seq: 1 }),
  'group.get_admins': (c) => ({ group_id: c.groupId }),
  'group.get_master': (c) => ({ group_id: c.groupId }),
  'group.get_summary': (c) => ({ group_id: c.groupId }),
  'group.refresh_member_types': (c) => ({ group_id: c.groupId }),
  'group.list_devices': (c) => ({ group_id: c.groupId }),
  'group.unregister_device': (c) => ({ group_id: c.groupId, device_id: 'fz-gone' }),
  'group.update': (c) => ({ group_id: c.groupId, description: 'fuzz', metadata: { k: 'v' } }),
  'group.ban': (c) => ({ group_id: c.groupId, subject: `fz${randomBytes(4).toString('hex')}.${c.alice.aid.split('.').slice(1).join('.')}`, reason: 'fuzz', expires_in_seconds: 60 }),
  'group.unban': (c) => ({ group_id: c.groupId, aid: c.bob.aid }),
  'group.get_banlist': (c) => ({ group_id: c.groupId }),
  'group.set_settings': (c) => ({ group_id: c.groupId, settings: { description: 'fuzz' } }),
  'group.get_settings': (c) => ({ group_id: c.groupId, keys: ['description', 'group.index'] }),
  'group.search': () => ({ query: 'fuzz', size: 5 }),
  'group.thought.put': (c) => ({ group_id: c.groupId, payload: { type: 'e2ee.group_v2', ciphertext: 'AA' }, encrypted: true, thought_id: mid(), context: { type: 'message', id: mid() } }),
  'group.thought.get': (c) => ({ group_id: c.groupId, sender_aid: c.alice.aid, context: { type: 'message', id: 'm-1' } }),
};
