import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Session, signedGroupIndex } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

async function trio(visibility = 'private', name = 'Settings test') {
  const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
  const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
  const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
  const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name, visibility });
  const gid = group.group_id;
  await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
  return { owner, bob, carol, gid, close: () => [owner, bob, carol].forEach((s) => s.close()) };
}

describe('group.set_settings / group.get_settings (§3.13)', () => {
  it('plain keys write without an index; members read them; members may not write', async () => {
    const { owner, bob, gid, close } = await trio();
    const r = await owner.call('group.set_settings', { group_id: gid, settings: { name: 'Renamed', description: 'About us', dispatch_mode: 'mention' } }, { sign: true });
    expect(r).toEqual({ group_id: gid, group_aid: gid, updated_keys: ['name', 'description', 'dispatch_mode'] });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'update')).toMatchObject({ keys: ['name', 'description', 'dispatch_mode'] });
    const read = await bob.call<{ settings: Obj[] }>('group.get_settings', { group_id: gid, keys: ['name', 'dispatch_mode'] });
    expect(read.settings).toEqual([expect.objectContaining({ key: 'name', value: 'Renamed' }), expect.objectContaining({ key: 'dispatch_mode', value: 'mention' })]);
    const everything = await bob.call<{ settings: Obj[] }>('group.get_settings', { group_id: gid });
    expect(everything.settings.map((s) => s.key)).toEqual(expect.arrayContaining(['name', 'description', 'visibility', 'join.mode']));
    expect(await bob.call('group.get_info', { group_id: gid })).toMatchObject({ name: 'Renamed', description: 'About us' });
    await expect(bob.call('group.set_settings', { group_id: gid, settings: { name: 'Mine' } })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.set_settings', { group_id: gid, settings: { bogus: 1 } })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.set_settings', { group_id: gid, settings: { visibility: 'secret' } })).rejects.toMatchObject({ body: { code: -32602 } });
    close();
  });

  it('indexed keys need a signed group.index; the etag is compared and swapped; _meta.group_indexes sits at frame level', async () => {
    const { owner, bob, gid, close } = await trio();
    await expect(owner.call('group.set_settings', { group_id: gid, settings: { 'rules.content': 'Be kind' } })).rejects.toMatchObject({ body: { code: -32602, message: expect.stringContaining('group.index') } });

    const first = signedGroupIndex(owner.identity, gid, { 'rules.content': 'Be kind' });
    const frame = await owner.request('group.set_settings', { group_id: gid, settings: { 'rules.content': 'Be kind', 'group.index': { body: first.body, meta: first.meta, entries: first.entries } }, expected_index_etag: '' });
    expect(frame.result).toEqual({ group_id: gid, group_aid: gid, updated_keys: ['rules.content', 'group.index'] });
    expect(frame._meta).toEqual({ group_indexes: { [gid]: { etag: first.etag, last_modified: first.meta.last_modified, schema: 'aun.group.index.v1' } } });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'rules_updated')).toMatchObject({ keys: ['rules.content', 'group.index'] });

    // A stale etag loses the race, and nothing of that call is written.
    const stale = signedGroupIndex(owner.identity, gid, { 'rules.content': 'Be loud' });
    await expect(owner.call('group.set_settings', { group_id: gid, settings: { 'rules.content': 'Be loud', 'group.index': { body: stale.body } }, expected_index_etag: '' }))
      .rejects.toMatchObject({ body: { code: -32009, message: expect.stringContaining('group.index etag conflict') } });
    const second = signedGroupIndex(owner.identity, gid, { 'rules.content': 'Be brief', 'announcement.content': 'Hello' });
    await owner.call('group.set_settings', { group_id: gid, settings: { 'rules.content': 'Be brief', 'announcement.content': 'Hello', 'group.index': { body: second.body } }, expected_index_etag: first.etag });

    const read = await bob.request('group.get_settings', { group_id: gid, keys: ['rules.content', 'group.index'] });
    const settings = (read.result as { settings: Obj[] }).settings;
    expect(settings[0]).toMatchObject({ key: 'rules.content', value: 'Be brief', updated_by: owner.identity.aid });
    expect(settings[1]).toMatchObject({ key: 'group.index', value: { body: second.body } });
    expect(read._meta).toEqual({ group_indexes: { [gid]: expect.objectContaining({ etag: second.etag }) } });
    const plain = await bob.request('group.get_settings', { group_id: gid, keys: ['rules.content'] });
    expect(plain._meta).toBeUndefined();
    close();
  });

  it('rejects an index that is forged, signed by someone else, for another group, or not covering the value', async () => {
    const { owner, bob, gid, close } = await trio();
    await owner.call('group.set_role', { group_id: gid, aid: bob.identity.aid, role: 'admin' });
    const write = (s: Session, value: string, index: { body: string }) =>
      s.call('group.set_settings', { group_id: gid, settings: { 'rules.content': value, 'group.index': index }, expected_index_etag: '' });
    const byOwner = signedGroupIndex(owner.identity, gid, { 'rules.content': 'A' });
    await expect(write(bob, 'A', byOwner)).rejects.toMatchObject({ body: { code: -32602, message: expect.stringContaining('signed by') } });
    await expect(write(owner, 'B', byOwner)).rejects.toMatchObject({ body: { code: -32602, message: expect.stringContaining('does not match the value') } });
    const elsewhere = signedGroupIndex(owner.identity, 'g-000000000000.aun.local', { 'rules.content': 'A' });
    await expect(write(owner, 'A', elsewhere)).rejects.toMatchObject({ body: { code: -32602 } });
    const tampered = { body: byOwner.body.replace('"signature":"', '"signature":"AA') };
    await expect(write(owner, 'A', tampered)).rejects.toMatchObject({ body: { code: -32003 } });
    const otherEntries = signedGroupIndex(owner.identity, gid, { 'announcement.content': 'A' });
    await expect(write(owner, 'A', otherEntries)).rejects.toMatchObject({ body: { code: -32602, message: expect.stringContaining('no entry for rules.content') } });
    expect(await write(bob, 'A', signedGroupIndex(bob.identity, gid, { 'rules.content': 'A' }))).toMatchObject({ updated_keys: ['rules.content', 'group.index'] });
    close();
  });
});

describe('group.search (§3.14)', () => {
  it('finds public groups only, by name, with a size limit', async () => {
    const tag = `zebra${Date.now() % 100000}`;
    const a = await trio('public', `${tag} one`);
    const b = await trio('public', `${tag} two`);
    const c = await trio('public', `${tag} three`);
    const hidden = await trio('private', `${tag} hidden`);
    const r = await hidden.carol.call<{ query: string; page: number; items: Obj[]; total: number; has_more: boolean }>('group.search', { query: tag.toUpperCase() });
    expect(r).toMatchObject({ query: tag.toUpperCase(), page: 1, total: 3, has_more: false });
    expect(r.items.map((i) => i.name)).toEqual([`${tag} one`, `${tag} two`, `${tag} three`]);
    expect(r.items[0]).toMatchObject({ group_id: a.gid, visibility: 'public', member_count: 2 });
    const limited = await a.carol.call<{ items: Obj[]; has_more: boolean; total: number }>('group.search', { q: tag, limit: 2 });
    expect(limited.items).toHaveLength(2);
    expect(limited.has_more).toBe(true);
    for (const t of [a, b, c, hidden]) t.close();
  });
});

describe('group.update (§3.5)', () => {
  it('owner and admins change name, visibility, description, metadata and avatar_ref; members are told; members may not', async () => {
    const { owner, bob, gid, close } = await trio();
    const r = await owner.call<{ group: Obj }>('group.update', {
      group_id: gid, name: 'Renamed', visibility: 'public', description: 'about us', metadata: { topic: 'dev' }, avatar_ref: 'obj://avatars/1',
    }, { sign: true });
    expect(r.group).toMatchObject({ group_id: gid, name: 'Renamed', visibility: 'public', description: 'about us' });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'update')).toMatchObject({ keys: ['name', 'description', 'visibility', 'metadata', 'avatar_ref'] });
    const read = await bob.call<{ settings: Obj[] }>('group.get_settings', { group_id: gid, keys: ['name', 'metadata', 'avatar_ref'] });
    expect(read.settings.map((x) => [x.key, x.value])).toEqual([['name', 'Renamed'], ['metadata', { topic: 'dev' }], ['avatar_ref', 'obj://avatars/1']]);
    expect((await bob.call<{ items: Obj[] }>('group.search', { query: 'renamed' })).items.map((i) => i.group_id)).toContain(gid);
    await expect(bob.call('group.update', { group_id: gid, name: 'Mine now' }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.update', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.update', { group_id: gid, metadata: [1] }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.update', { group_id: gid, visibility: 'everyone' }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    close();
  });
});
