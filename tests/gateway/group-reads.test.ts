// The group reads the browser SDK makes through `call` (spec groups-and-more §7): group.list (the
// facade's list()), get_admins, get_master, get_summary, refresh_member_types, and the caller's own
// device cursors (list_devices, unregister_device), with who may read what.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Session } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => { gw = await testGateway(); });
afterAll(() => gw.close());

type Obj = Record<string, unknown>;
const open = async (prefix: string, deviceId = `${prefix}-d1`) => Session.open(gw.url, await loggedIn(gw, prefix), { deviceId });

describe('group reads of §7', () => {
  it('list, admins, master, summary and member types read the group as it is', async () => {
    const owner = await open('owner');
    const admin = await open('admin');
    const bob = await open('bob');
    const outsider = await open('outsider');
    const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'Reads', visibility: 'private' });
    const gid = group.group_id;
    await owner.call('group.add_member', { group_id: gid, aid: admin.identity.aid, role: 'admin' });
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid, member_type: 'human' });

    const listed = await bob.call<{ items: Obj[] }>('group.list', {});
    expect(listed).toEqual(await bob.call('group.list_my', {}));
    expect(listed.items.map((i) => i.group_id)).toContain(gid);
    const admins = await bob.call<{ admins: Obj[] }>('group.get_admins', { group_id: gid });
    expect(admins.admins.map((a) => [a.aid, a.role]).sort()).toEqual([[admin.identity.aid, 'admin'], [owner.identity.aid, 'owner']].sort());
    expect(await bob.call('group.get_master', { group_id: gid })).toEqual({ group_id: gid, owner_aid: owner.identity.aid });
    const summary = await bob.call<Obj>('group.get_summary', { group_id: gid });
    expect(summary).toMatchObject({ group_id: gid, name: 'Reads', owner_aid: owner.identity.aid, member_count: 3, human_count: 1, ai_count: 2, admin_count: 2, online_count: 3, status: 'active' });
    const types = await bob.call<{ members: Obj[] }>('group.refresh_member_types', { group_id: gid });
    expect(types).toMatchObject({ group_id: gid, total: 3, human_count: 1, ai_count: 2 });
    expect(types.members.find((m) => m.aid === bob.identity.aid)).toEqual({ aid: bob.identity.aid, role: 'member', member_type: 'human' });
    // A private group tells an outsider nothing.
    for (const m of ['group.get_admins', 'group.get_master', 'group.get_summary', 'group.refresh_member_types', 'group.list_devices']) {
      await expect(outsider.call(m, { group_id: gid })).rejects.toMatchObject({ body: { code: -33006 } });
    }
  });

  it('list_devices shows the caller\'s own devices and their unread counts; unregister_device drops one', async () => {
    const owner = await open('owner2');
    const { group } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'Devices', visibility: 'private' });
    const gid = group.group_id;
    const phone = await Session.open(gw.url, owner.identity, { deviceId: 'phone' });
    await owner.call('group.send', { group_id: gid, payload: { type: 'text', text: 'one' }, message_id: 'd-1' }, { sign: true });
    await owner.call('group.send', { group_id: gid, payload: { type: 'text', text: 'two' }, message_id: 'd-2' }, { sign: true });
    await owner.call('group.v2.ack', { group_id: gid, up_to_seq: 2 }, { sign: true });
    await phone.call('group.v2.ack', { group_id: gid, up_to_seq: 1 }, { sign: true });
    const devices = await owner.call<{ devices: Obj[] }>('group.list_devices', { group_id: gid });
    expect(devices.devices.map((d) => [d.device_id, d.msg_unread])).toEqual([['owner2-d1', 0], ['phone', 1]]);
    expect(await owner.call('group.unregister_device', { group_id: gid, device_id: 'phone' })).toMatchObject({ success: true });
    expect((await owner.call<{ devices: Obj[] }>('group.list_devices', { group_id: gid })).devices.map((d) => d.device_id)).toEqual(['owner2-d1']);
    phone.close();
  });
});
