import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { derB64, Identity, Session } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

async function trio(visibility = 'private') {
  const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
  const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
  const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
  const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'Admin test', visibility });
  const gid = group.group_id;
  await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
  return { owner, bob, carol, gid, close: () => [owner, bob, carol].forEach((s) => s.close()) };
}

describe('group.set_role (§3.6)', () => {
  it('the owner promotes and demotes; role_changed reaches every member; the event is pulled too', async () => {
    const { owner, bob, gid, close } = await trio();
    const r = await owner.call<Obj>('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'admin' }, { sign: true });
    expect(r).toMatchObject({ old_role: 'member', new_role: 'admin', acl_model: 'role_based', acl_policy: 'unchanged', member: { aid: bob.identity.aid, role: 'admin', group_id: gid } });
    const ev = await bob.waitEvent('group.changed', (e) => e.action === 'role_changed');
    expect(ev).toMatchObject({ member_aid: bob.identity.aid, old_role: 'member', new_role: 'admin', actor_aid: owner.identity.aid, client_signature: { _method: 'group.set_role' } });
    const pulled = await owner.call<{ events: Obj[] }>('group.pull_events', { group_id: gid, after_event_seq: 0 });
    expect(pulled.events.map((e) => e.action)).toEqual(['member_added', 'role_changed']);
    // An admin may step down itself, and nothing more.
    expect(await bob.call('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'member' })).toMatchObject({ new_role: 'member' });
    close();
  });

  it('refuses non-owners, the owner as target, non-members and unknown roles', async () => {
    const { owner, bob, carol, gid, close } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: carol.identity.aid });
    await owner.call('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'admin' });
    await expect(bob.call('group.set_role', { group_id: gid, aid: carol.identity.aid, role: 'admin' })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(carol.call('group.set_role', { group_id: gid, aid: carol.identity.aid, role: 'admin' })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.set_role', { group_id: gid, aid: owner.identity.aid, role: 'member' })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.set_role', { group_id: gid, aid: 'nobody1.aun.local', role: 'admin' })).rejects.toMatchObject({ body: { code: -33006 } });
    await expect(owner.call('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'owner' })).rejects.toMatchObject({ body: { code: -32602 } });
    close();
  });
});

describe('transfer, suspend, resume, dissolve (§3.7–§3.9)', () => {
  it('transfer_owner makes the old owner an admin; only the owner may transfer', async () => {
    const { owner, bob, carol, gid, close } = await trio();
    await expect(bob.call('group.transfer_owner', { group_id: gid, new_owner: bob.identity.aid })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.transfer_owner', { group_id: gid, new_owner: carol.identity.aid })).rejects.toMatchObject({ body: { code: -33006 } });
    const r = await owner.call<Obj>('group.transfer_owner', { group_id: gid, new_owner: bob.identity.aid }, { sign: true });
    expect(r).toMatchObject({ old_owner: owner.identity.aid, new_owner: bob.identity.aid, group: { owner_aid: bob.identity.aid } });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'owner_transferred')).toMatchObject({ old_owner: owner.identity.aid, new_owner: bob.identity.aid });
    const members = await owner.call<{ members: Obj[] }>('group.get_members', { group_id: gid });
    expect(Object.fromEntries(members.members.map((m) => [m.aid, m.role]))).toEqual({ [owner.identity.aid]: 'admin', [bob.identity.aid]: 'owner' });
    expect(await owner.call('group.leave', { group_id: gid })).toMatchObject({ left_aid: owner.identity.aid });
    close();
  });

  it('suspend blocks sending until resume; admins may, members may not; repeated calls are unchanged', async () => {
    const { owner, bob, gid, close } = await trio();
    await expect(bob.call('group.suspend', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });
    expect(await owner.call('group.suspend', { group_id: gid }, { sign: true })).toMatchObject({ status: 'suspended', group: { status: 'suspended' } });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'suspended')).toMatchObject({ status: 'suspended' });
    expect(await owner.call('group.suspend', { group_id: gid })).toMatchObject({ status: 'unchanged' });
    await expect(bob.call('group.send', { group_id: gid, payload: { type: 'text', text: 'hi' } })).rejects.toMatchObject({ body: { code: -33003 } });
    expect(await owner.call('group.resume', { group_id: gid })).toMatchObject({ status: 'active' });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'resumed')).toMatchObject({ status: 'active' });
    expect(await bob.call('group.send', { group_id: gid, payload: { type: 'text', text: 'hi' } })).toMatchObject({ status: 'sent' });
    close();
  });

  it('dissolve: owner only, every member is told, the group is gone afterwards', async () => {
    const { owner, bob, gid, close } = await trio();
    await owner.call('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'admin' });
    await expect(bob.call('group.dissolve', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });
    expect(await owner.call('group.dissolve', { group_id: gid }, { sign: true })).toEqual({ group_id: gid, status: 'dissolved' });
    for (const s of [owner, bob]) expect(await s.waitEvent('group.changed', (e) => e.action === 'dissolved')).toMatchObject({ group_id: gid, status: 'dissolved' });
    await expect(bob.call('group.get_info', { group_id: gid })).rejects.toMatchObject({ body: { code: -33001 } });
    await expect(owner.call('group.send', { group_id: gid, payload: { type: 'text' } })).rejects.toMatchObject({ body: { code: -33001 } });
    expect((await bob.call<{ items: Obj[] }>('group.list_my', {})).items.map((g) => g.group_id)).not.toContain(gid);
    close();
  });
});

describe('invite codes (§3.10)', () => {
  it('create, join with it (self-join event), used up after max_uses, list and revoke', async () => {
    const { owner, bob, carol, gid, close } = await trio();
    await expect(bob.call('group.create_invite_code', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });
    const { invite_code: code } = await owner.call<{ invite_code: Obj & { code: string; code_with_domain: string } }>('group.create_invite_code', { group_id: gid, max_uses: 1 });
    expect(code).toMatchObject({ group_id: gid, code: expect.stringMatching(/^ic-/), created_by: owner.identity.aid, max_uses: 1, used_count: 0, status: 'active' });
    expect(code.code_with_domain).toContain(code.code);
    const joined = await carol.call<Obj>('group.use_invite_code', { code: code.code_with_domain.toUpperCase() }, { sign: true });
    expect(joined).toMatchObject({ status: 'joined', group: { group_id: gid, member_count: 3 }, invite_code: { used_count: 1, status: 'expired' } });
    expect(await carol.waitEvent('group.changed', (e) => e.action === 'invite_code_used')).toMatchObject({ member_aid: carol.identity.aid, actor_aid: carol.identity.aid });
    await expect(carol.call('group.use_invite_code', { code: code.code })).rejects.toMatchObject({ body: { code: -33008 } });
    await expect(carol.call('group.use_invite_code', { code: 'ic-nothing' })).rejects.toMatchObject({ body: { code: -33008 } });

    const second = (await owner.call<{ invite_code: { code: string } }>('group.create_invite_code', { group_id: gid, code: 'Team-Door', max_uses: 5 })).invite_code;
    expect(second.code).toBe('team-door');
    await expect(bob.call('group.use_invite_code', { code: 'team-door' })).rejects.toMatchObject({ body: { code: -33005 } });
    const listed = await owner.call<{ items: Obj[] }>('group.list_invite_codes', { group_id: gid, status: 'active' });
    expect(listed.items.map((c) => c.code)).toEqual(['team-door']);
    expect(await owner.call('group.revoke_invite_code', { group_id: gid, code: 'team-door' })).toEqual({ group_id: gid, code: 'team-door', status: 'revoked' });
    const outsider = await Session.open(gw.url, await loggedIn(gw, 'dave'), { deviceId: 'd1' });
    await expect(outsider.call('group.use_invite_code', { code: 'team-door' })).rejects.toMatchObject({ body: { code: -33008 } });
    outsider.close();
    close();
  });

  it('a plain member never sees an invite code in group.changed, pushed or pulled; the owner, admins and the joiner do', async () => {
    const { owner, bob, carol: admin, gid, close } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: admin.identity.aid });
    await owner.call('group.set_role', { group_id: gid, aid: admin.identity.aid, role: 'admin' });
    const joiner = await Session.open(gw.url, await loggedIn(gw, 'dave'), { deviceId: 'd1' });
    const code = (await admin.call<{ invite_code: { code: string } }>('group.create_invite_code', { group_id: gid, max_uses: 2 })).invite_code.code;
    await joiner.call('group.use_invite_code', { code }, { sign: true });
    await owner.call('group.revoke_invite_code', { group_id: gid, code });

    const kinds = ['invite_code_created', 'invite_code_used', 'invite_code_revoked'] as const;
    type Kind = (typeof kinds)[number];
    const pushed = async (s: Session, action: Kind) => s.waitEvent('group.changed', (e) => e.action === action);
    const pulled = async (s: Session) =>
      (await s.call<{ events: Obj[] }>('group.pull_events', { group_id: gid, after_event_seq: 0 })).events.filter((e) => kinds.includes(e.action as Kind));
    const common = {
      invite_code_created: { action: 'invite_code_created', group_id: gid, actor_aid: admin.identity.aid, event_type: 'group.changed' },
      invite_code_used: { action: 'invite_code_used', group_id: gid, actor_aid: joiner.identity.aid, member_aid: joiner.identity.aid, client_signature: expect.objectContaining({ _method: 'group.use_invite_code' }) },
      invite_code_revoked: { action: 'invite_code_revoked', group_id: gid, actor_aid: owner.identity.aid },
    } satisfies Record<Kind, Obj>;

    // The plain member: every other field, no code, pushed and pulled.
    for (const action of kinds) {
      const ev = await pushed(bob, action);
      expect(ev).toMatchObject(common[action]);
      expect(ev).not.toHaveProperty('code');
    }
    const bobPulled = await pulled(bob);
    expect(bobPulled.map((e) => e.action)).toEqual(kinds);
    for (const ev of bobPulled) {
      expect(ev).toMatchObject(common[ev.action as Kind]);
      expect(ev).not.toHaveProperty('code');
    }
    expect(JSON.stringify([bob.eventsNamed('group.changed'), bobPulled])).not.toContain(code);

    // The owner and the admin: the code, pushed and pulled.
    for (const s of [owner, admin]) {
      for (const action of kinds) expect(await pushed(s, action)).toMatchObject({ ...common[action], code });
      expect(await pulled(s)).toEqual(kinds.map((action) => expect.objectContaining({ ...common[action], code })));
    }

    // The joiner: its own join shows the code it used; the later revoke does not.
    expect(await pushed(joiner, 'invite_code_used')).toMatchObject({ ...common.invite_code_used, code });
    expect(await pushed(joiner, 'invite_code_revoked')).not.toHaveProperty('code');
    const joinerPulled = await pulled(joiner);
    expect(joinerPulled.map((e) => e.action)).toEqual(['invite_code_used', 'invite_code_revoked']);
    expect(joinerPulled[0]).toMatchObject({ ...common.invite_code_used, code });
    expect(joinerPulled[1]).not.toHaveProperty('code');
    joiner.close();
    close();
  });
});

describe('group.get_info and group.get_state visibility (§3.4)', () => {
  it('is flat; members get the member fields; non-members of a public group get the public ones; private groups show non-members nothing', async () => {
    const priv = await trio('private');
    const info = await priv.bob.call<Obj>('group.get_info', { group_id: priv.gid, required: ['member'] });
    expect(info).toMatchObject({
      found: true, group_id: priv.gid, group_aid: priv.gid, name: 'Admin test', visibility: 'private', status: 'active', member_count: 2,
      owner_aid: priv.owner.identity.aid, my_role: 'member', e2ee_epoch: expect.any(Number), updated_at: expect.any(Number),
    });
    expect(info).not.toHaveProperty('group');
    expect((info.members as Obj[]).length).toBe(2);
    await expect(priv.carol.call('group.get_info', { group_id: priv.gid })).rejects.toMatchObject({ body: { code: -33006 } });
    await expect(priv.carol.call('group.get_state', { group_id: priv.gid })).rejects.toMatchObject({ body: { code: -33006 } });
    expect(await priv.bob.call('group.get_state', { group_id: priv.gid })).toMatchObject({ key_epoch: expect.any(Number) });
    priv.close();

    const pub = await trio('public');
    const seen = await pub.carol.call<Obj>('group.get_info', { group_id: pub.gid });
    expect(seen).toMatchObject({ found: true, group_id: pub.gid, name: 'Admin test', visibility: 'public', member_count: 2 });
    for (const hidden of ['owner_aid', 'my_role', 'e2ee_epoch', 'members', 'message_seq']) expect(seen).not.toHaveProperty(hidden);
    await expect(pub.carol.call('group.get_info', { group_id: pub.gid, required: ['member'] })).rejects.toMatchObject({ body: { code: -33006 } });
    await expect(pub.carol.call('group.get_state', { group_id: pub.gid })).rejects.toMatchObject({ body: { code: -33006 } });
    pub.close();
  });
});

describe('named groups (§3.3)', () => {
  it('group_name + public_key make {group_name}.{issuer} with a certificate for the group key', async () => {
    const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = `team${Date.now() % 1_000_000}`;
    const r = await owner.call<{ group: Obj; aid_cert: { cert: string; ca_cert: string; cert_sn: string; curve: string } }>('group.create', { group_name: name, name: 'Team', public_key: derB64(key.publicKey), curve: 'P-256' });
    const gid = `${name}.aun.local`;
    expect(r.group).toMatchObject({ group_id: gid, group_aid: gid, owner_aid: owner.identity.aid, group_url: `https://group.aun.local/${gid}` });
    const cert = new X509Certificate(r.aid_cert.cert);
    expect(cert.subject).toBe(`CN=${gid}`);
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).equals(key.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(cert.verify(new X509Certificate(r.aid_cert.ca_cert).publicKey)).toBe(true);
    expect(r.aid_cert.curve).toBe('P-256');
    expect(await owner.waitEvent('group.created')).toMatchObject({ group_id: gid, owner_aid: owner.identity.aid });
    await expect(owner.call('group.create', { group_name: name, public_key: derB64(key.publicKey) })).rejects.toMatchObject({ body: { code: -32052 } });
    await expect(owner.call('group.create', { group_name: 'g-bad', public_key: derB64(key.publicKey) })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.create', { group_name: 'goodname', public_key: 'AAAA' })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.create', { group_name: 'goodname2', public_key: derB64(key.publicKey), curve: 'P-384' })).rejects.toMatchObject({ body: { code: -32602 } });
    owner.close();
  });

  it('an AID cannot be registered under a group\'s id: one name never gets two certificates', async () => {
    const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = `victim${Date.now() % 1_000_000}`;
    await owner.call('group.create', { group_name: name, public_key: derB64(key.publicKey), curve: 'P-256' });
    const squatted = new Identity(`${name}.aun.local`);
    await expect(squatted.register(gw.url)).rejects.toMatchObject({ body: { code: -32052 } });
    // A plain group's id (no certificate of its own) is refused too.
    const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'plain' });
    await expect(new Identity(group.group_id).register(gw.url)).rejects.toMatchObject({ body: { code: -32052 } });
    owner.close();
  });

  it('a named group moves in two steps: the group key authorises the new owner, who brings a new group key', async () => {
    const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const groupKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = `move${Date.now() % 1_000_000}`;
    const created = await owner.call<{ aid_cert: { cert_sn: string } }>('group.create', { group_name: name, name: 'Move', public_key: derB64(groupKey.publicKey), curve: 'P-256' });
    const gid = `${name}.aun.local`;
    for (const s of [bob, carol]) await owner.call('group.add_member', { group_id: gid, aid: s.identity.aid });
    const nonce = () => randomBytes(16).toString('hex');
    const signBy = (key: KeyObject, text: string) => sign('sha256', Buffer.from(text), { key, dsaEncoding: 'der' }).toString('base64');
    const auth = (key: KeyObject, to: string) => {
      const n = nonce();
      const at = Date.now();
      return { nonce: n, issued_ms: at, signature: signBy(key, `aun-group-owner-transfer-v1|${gid}|${gid}|${to}|${n}|${at}`) };
    };
    // Signed by the owner's own key rather than the group's: refused.
    await expect(owner.call('group.transfer_owner', { group_id: gid, new_owner: bob.identity.aid, transfer_auth: auth(owner.identity.privateKey, bob.identity.aid) }, { sign: true }))
      .rejects.toMatchObject({ body: { code: -32003 } });
    const step1 = await owner.call<Obj>('group.transfer_owner', { group_id: gid, new_owner: bob.identity.aid, transfer_auth: auth(groupKey.privateKey, bob.identity.aid) }, { sign: true });
    expect(step1).toMatchObject({ status: 'pending_rekey', new_owner: bob.identity.aid, group: { owner_aid: owner.identity.aid } });

    const newKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const accept = (who: Session, publicKey: string) => {
      const n = nonce();
      const at = Date.now();
      const keyHash = createHash('sha256').update(publicKey, 'utf8').digest('hex');
      return { nonce: n, issued_ms: at, signature: signBy(who.identity.privateKey, `aun-group-owner-transfer-accept-v1|${gid}|${gid}|${who.identity.aid}|${keyHash}|${n}|${at}`) };
    };
    const pk = derB64(newKey.publicKey);
    // Only the AID the transfer names completes it, with its own key's signature.
    await expect(carol.call('group.complete_transfer', { group_id: gid, public_key: pk, transfer_accept: accept(carol, pk) }, { sign: true })).rejects.toMatchObject({ body: { code: -32008 } });
    await expect(bob.call('group.complete_transfer', { group_id: gid, public_key: pk, transfer_accept: accept(carol, pk) }, { sign: true })).rejects.toMatchObject({ body: { code: -32003 } });
    const done = await bob.call<{ group: Obj; aid_cert: { cert: string; cert_sn: string } }>('group.complete_transfer', { group_id: gid, public_key: pk, curve: 'P-256', transfer_accept: accept(bob, pk) }, { sign: true });
    expect(done.group).toMatchObject({ group_id: gid, group_aid: gid, owner_aid: bob.identity.aid });
    const cert = new X509Certificate(done.aid_cert.cert);
    expect(cert.subject).toBe(`CN=${gid}`);
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')).toBe(pk);
    expect(await carol.waitEvent('group.changed', (e) => e.action === 'owner_transferred')).toMatchObject({ old_owner: owner.identity.aid, new_owner: bob.identity.aid });
    const roles = await owner.call<{ members: Obj[] }>('group.get_members', { group_id: gid });
    expect(Object.fromEntries(roles.members.map((m) => [m.aid, m.role]))).toMatchObject({ [owner.identity.aid]: 'admin', [bob.identity.aid]: 'owner' });
    // The old group key's certificate is revoked, the new one good; a second completion finds nothing.
    const ocsp = async (sn: string) => ((await (await fetch(`${gw.httpUrl}/pki/ocsp/${sn}`)).json()) as { status: string }).status;
    expect(await ocsp(created.aid_cert.cert_sn)).toBe('revoked');
    expect(await ocsp(done.aid_cert.cert_sn)).toBe('good');
    await expect(bob.call('group.complete_transfer', { group_id: gid, public_key: pk, transfer_accept: accept(bob, pk) }, { sign: true })).rejects.toMatchObject({ body: { code: -32008 } });
    for (const s of [owner, bob, carol]) s.close();
  });

  it('an ordinary group binds a group AID once per key, and renews it on a proof by the old key', async () => {
    const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'bind me' });
    const gid = group.group_id;
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    const first = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pk1 = derB64(first.publicKey);
    await expect(bob.call('group.bind_group_aid', { group_id: gid, public_key: pk1 }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    const bound = await owner.call<{ group: Obj; aid_cert: { cert: string; agentid: string; cert_sn: string } }>('group.bind_group_aid', { group_id: gid, public_key: pk1, curve: 'P-256' }, { sign: true });
    expect(bound.group).toMatchObject({ group_id: gid, group_aid: gid });
    expect(bound.aid_cert.agentid).toBe(gid);
    const cert = new X509Certificate(bound.aid_cert.cert);
    expect(cert.subject).toBe(`CN=${gid}`);
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')).toBe(pk1);
    // The same key again: the same answer; another key: refused.
    expect((await owner.call<{ aid_cert: { cert: string } }>('group.bind_group_aid', { group_id: gid, public_key: pk1 }, { sign: true })).aid_cert.cert).toBe(bound.aid_cert.cert);
    const other = derB64(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    await expect(owner.call('group.bind_group_aid', { group_id: gid, public_key: other }, { sign: true }))
      .rejects.toMatchObject({ body: { code: -32052, message: expect.stringContaining('group_aid_already_bound_different_key') } });

    const second = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pk2 = derB64(second.publicKey);
    const hash = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
    const renewProof = (key: KeyObject) => {
      const n = randomBytes(16).toString('hex');
      const at = Date.now();
      const text = `aun-group-aid-renew-v1|${gid}|${gid}|${hash(pk1)}|${hash(pk2)}|${n}|${at}`;
      return { nonce: n, issued_ms: at, signature: sign('sha256', Buffer.from(text), { key, dsaEncoding: 'der' }).toString('base64') };
    };
    // A proof by any key but the old group key is refused, and so is an old key that is not the bound one.
    await expect(owner.call('group.renew_group_aid', { group_id: gid, old_public_key: pk1, new_public_key: pk2, renew_proof: renewProof(second.privateKey) }, { sign: true }))
      .rejects.toMatchObject({ body: { code: -32003 } });
    await expect(owner.call('group.renew_group_aid', { group_id: gid, old_public_key: other, new_public_key: pk2, renew_proof: renewProof(first.privateKey) }, { sign: true }))
      .rejects.toMatchObject({ body: { code: -32602 } });
    const renewed = await owner.call<{ aid_cert: { cert: string; cert_sn: string }; old_cert_revoked: boolean }>('group.renew_group_aid', {
      group_id: gid, old_public_key: pk1, new_public_key: pk2, curve: 'P-256', renew_proof: renewProof(first.privateKey),
    }, { sign: true });
    expect(renewed.old_cert_revoked).toBe(true);
    expect(new X509Certificate(renewed.aid_cert.cert).publicKey.export({ format: 'der', type: 'spki' }).toString('base64')).toBe(pk2);
    const ocsp = async (sn: string) => ((await (await fetch(`${gw.httpUrl}/pki/ocsp/${sn}`)).json()) as { status: string }).status;
    expect(await ocsp(bound.aid_cert.cert_sn)).toBe('revoked');
    expect(await ocsp(renewed.aid_cert.cert_sn)).toBe('good');
    for (const s of [owner, bob]) s.close();
  });
});
