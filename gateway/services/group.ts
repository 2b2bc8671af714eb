// Groups (protocol.md §7.3, §8, §13.3; groups-and-more): the group service, put together from its
// parts. Everything is in SQLite so a restart on the same data dir loses nothing.
//
//   group-core.ts        the tables, records, permission checks, `group.changed` events, message rows
//   group-membership.ts  create, add, kick / remove, leave
//   group-info.ts        members, online members, my groups, group info
//   group-messages.ts    V2 and plaintext sends, pull, message cursors, the login-time unread hint
//   group-events.ts      the event stream and its cursors
//   group-keys.ts        group SPKs, bootstrap, the state-commitment stubs
//   group-roles.ts, group-invites.ts, group-joins.ts, group-bans.ts, group-identity.ts, group-settings.ts, recall.ts,
//   thoughts.ts, notify.ts

import type { GatewayContext, HandlerTable, Service } from '../context.ts';
import { createGroupCore } from './group-core.ts';
import { groupBanHandlers } from './group-bans.ts';
import { groupEventHandlers } from './group-events.ts';
import { groupIdentityHandlers } from './group-identity.ts';
import { groupInfoHandlers } from './group-info.ts';
import { groupInviteHandlers } from './group-invites.ts';
import { groupJoinHandlers } from './group-joins.ts';
import { createGroupKeys } from './group-keys.ts';
import { groupMembershipHandlers } from './group-membership.ts';
import { createGroupMessages } from './group-messages.ts';
import { groupRoleHandlers } from './group-roles.ts';
import { groupSettingsHandlers } from './group-settings.ts';
import { createNotify } from './notify.ts';
import { groupRecallHandlers } from './recall.ts';
import { thoughtHandlers } from './thoughts.ts';

export function createGroupService(ctx: GatewayContext): Service {
  const core = createGroupCore(ctx);
  const keys = createGroupKeys(core);
  const messages = createGroupMessages(core, keys.knownDevices);
  const handlers: HandlerTable = { ...keys.handlers, ...messages.handlers };
  for (const part of [
    groupMembershipHandlers, groupInfoHandlers, groupEventHandlers,
    // Join requests read the join.* settings: after the settings part made its table.
    groupRoleHandlers, groupInviteHandlers, groupSettingsHandlers, groupJoinHandlers, groupBanHandlers, groupIdentityHandlers, groupRecallHandlers, thoughtHandlers,
  ]) Object.assign(handlers, part(core));
  return {
    handlers,
    onNotification: createNotify(core),
    onLongConnected: (conn) => messages.onLongConnected(conn),
  };
}
