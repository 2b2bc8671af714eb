// Group settings and search (spec groups-and-more §3.13, §3.14): plain keys, indexed keys that
// need a signed group.index written by compare-and-swap on its etag, `_meta.group_indexes` at frame
// level, and the public-group search.

import { ErrorCode } from '../../protocol/errors.ts';
import type { GroupSearchItem, GroupSetting } from '../../protocol/methods-extra.ts';
import { RpcError, withFrameMeta } from '../context.ts';
import { migrate } from '../db.ts';
import { int, obj, str } from '../validate.ts';
import type { GroupCore, GroupPart, GroupRecord } from './group-core.ts';
import { INDEX_KEY, INDEX_SCHEMA, checkGroupIndex, type IndexHead } from './group-index.ts';

const MIGRATIONS = [
  `CREATE TABLE group_settings (
     group_id TEXT NOT NULL REFERENCES group_info(group_id),
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     updated_by TEXT NOT NULL,
     PRIMARY KEY (group_id, key)
   )`,
];

/** Keys that live as columns of the group itself. */
const CORE_KEYS = ['name', 'description', 'visibility'] as const;
const PLAIN_KEYS: ReadonlySet<string> = new Set([...CORE_KEYS, 'dispatch_mode']);
const JOIN_KEYS: ReadonlySet<string> = new Set(['join.mode', 'join.question', 'join.auto_approve_patterns', 'join.max_pending', 'join.attachments']);
const DOCUMENT_KEY = /^([A-Za-z][A-Za-z0-9_-]{0,63})\.(content|attachments)$/;
const RESERVED_BASES: ReadonlySet<string> = new Set(['join', 'dispatch_mode', 'duty', 'e2ee', 'group', 'group_index', 'index', 'name', 'description', 'visibility']);
const JOIN_MODES: ReadonlySet<string> = new Set(['open', 'approval', 'invite_only', 'closed']);
const MAX_SETTING_BYTES = 65_536;
const MAX_SEARCH = 100;

function isIndexed(key: string): boolean {
  if (JOIN_KEYS.has(key)) return true;
  const m = DOCUMENT_KEY.exec(key);
  return m !== null && !RESERVED_BASES.has(m[1]!);
}

/** The group.changed kind of a settings write (one per call). */
function actionOf(keys: string[]): string {
  const kinds = new Set(keys.filter((k) => k !== INDEX_KEY).map((k) => {
    if (k.startsWith('rules.')) return 'rules_updated';
    if (k.startsWith('announcement.')) return 'announcement_updated';
    if (k.startsWith('join.')) return 'join_requirements_updated';
    return 'update';
  }));
  return kinds.size === 1 ? [...kinds][0]! : 'update';
}

export const groupSettingsHandlers: GroupPart = (core: GroupCore) => {
  migrate(core.db, 'group-settings', MIGRATIONS);
  const upsert = core.db.prepare(
    `INSERT INTO group_settings (group_id, key, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (group_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  );
  const one = core.db.prepare('SELECT key, value, updated_at, updated_by FROM group_settings WHERE group_id = ? AND key = ?');
  const all = core.db.prepare('SELECT key, value, updated_at, updated_by FROM group_settings WHERE group_id = ? ORDER BY key');
  const setCore = {
    name: core.db.prepare('UPDATE group_info SET name = ? WHERE group_id = ?'),
    description: core.db.prepare('UPDATE group_info SET description = ? WHERE group_id = ?'),
    visibility: core.db.prepare('UPDATE group_info SET visibility = ? WHERE group_id = ?'),
  };
  const setJoinMode = core.db.prepare('UPDATE group_info SET join_mode = ? WHERE group_id = ?');
  const search = core.db.prepare(
    `SELECT group_id FROM group_info WHERE visibility = 'public' AND status != 'dissolved'
       AND (? = '' OR instr(lower(name), ?) > 0 OR instr(group_id, ?) > 0 OR instr(lower(description), ?) > 0)
     ORDER BY created_at, group_id LIMIT ?`,
  );
  const countSearch = core.db.prepare(
    `SELECT COUNT(*) AS n FROM group_info WHERE visibility = 'public' AND status != 'dissolved'
       AND (? = '' OR instr(lower(name), ?) > 0 OR instr(group_id, ?) > 0 OR instr(lower(description), ?) > 0)`,
  );

  interface Row { key: string; value: string; updated_at: number; updated_by: string }

  function indexHead(groupId: string): IndexHead | null {
    const row = one.get(groupId, INDEX_KEY) as Row | undefined;
    if (!row) return null;
    const v = JSON.parse(row.value) as { body: string };
    const meta = JSON.parse(v.body.split('\n')[0]!) as { etag: string; last_modified: number };
    return { etag: meta.etag, last_modified: meta.last_modified, schema: INDEX_SCHEMA };
  }

  function indexMeta(groupId: string): Record<string, unknown> | null {
    const head = indexHead(groupId);
    return head ? { group_indexes: { [groupId]: head } } : null;
  }

  function coreSetting(g: GroupRecord, key: string): GroupSetting | null {
    if (key === 'name' || key === 'description' || key === 'visibility') return { key, value: g[key], updated_at: g.updated_at };
    if (key === 'join.mode') return { key, value: g.join_mode, updated_at: g.updated_at };
    if (key === 'dispatch_mode') return { key, value: 'broadcast', updated_at: g.created_at };
    return null;
  }

  /** Writes checked settings: the group's own columns, or rows of group_settings (join.mode both). */
  function write(groupId: string, written: Record<string, unknown>, t: number, by: string): void {
    for (const [key, value] of Object.entries(written)) {
      if (key === 'name' || key === 'description' || key === 'visibility') setCore[key].run(value, groupId);
      else upsert.run(groupId, key, JSON.stringify(value), t, by);
      if (key === 'join.mode') setJoinMode.run(value, groupId);
    }
  }

  function validate(key: string, value: unknown): unknown {
    if (Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8') > MAX_SETTING_BYTES) throw new RpcError(ErrorCode.InvalidParams, `invalid params: setting ${key} is larger than ${MAX_SETTING_BYTES} bytes`);
    const want = (ok: boolean, what: string) => {
      if (!ok) throw new RpcError(ErrorCode.InvalidParams, `invalid params: setting ${key} must be ${what}`);
    };
    if (key === 'name') want(typeof value === 'string' && value.length <= 256, 'a string of at most 256 characters');
    if (key === 'description') want(typeof value === 'string' && value.length <= 4096, 'a string of at most 4096 characters');
    if (key === 'visibility') {
      want(value === 'public' || value === 'private' || value === 'invite_only', '"public" or "private"');
      return value === 'invite_only' ? 'private' : value;
    }
    if (key === 'dispatch_mode') want(value === 'broadcast' || value === 'mention', '"broadcast" or "mention"');
    if (key === 'join.mode') want(typeof value === 'string' && JOIN_MODES.has(value), `one of ${[...JOIN_MODES].join(', ')}`);
    return value;
  }

  return {
    'group.set_settings'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const settings = obj(params, 'settings', {});
      const expected = str(params, 'expected_index_etag', { optional: true, max: 256 });
      const keys = Object.keys(settings);
      if (keys.length === 0) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: settings must name at least one key');
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'change settings');
      const written: Record<string, unknown> = {};
      const indexed: Record<string, unknown> = {};
      for (const key of keys) {
        if (key === INDEX_KEY) continue;
        if (!PLAIN_KEYS.has(key) && !isIndexed(key)) throw new RpcError(ErrorCode.InvalidParams, `invalid params: unknown setting ${key}`);
        written[key] = validate(key, settings[key]);
        if (isIndexed(key)) indexed[key] = written[key];
      }
      const index = settings[INDEX_KEY];
      let head: IndexHead | null = null;
      if (Object.keys(indexed).length > 0 && index === undefined) {
        throw new RpcError(ErrorCode.InvalidParams, `invalid params: indexed settings (${Object.keys(indexed).join(', ')}) need a signed group.index and expected_index_etag in the same call`);
      }
      if (index !== undefined) {
        if (expected === undefined) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: writing group.index needs expected_index_etag ("" when there is no index yet)');
        const agent = core.ctx.agent(conn.aid);
        if (!agent) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${conn.aid}`);
        head = checkGroupIndex(index, groupId, agent, indexed);
      }
      const t = core.ctx.now();
      core.db.transaction(() => {
        if (head) {
          const current = indexHead(groupId)?.etag ?? '';
          if (current !== expected) {
            throw new RpcError(ErrorCode.VersionConflict, `group.index etag conflict: expected ${JSON.stringify(expected)}, current ${JSON.stringify(current)}; read the index again and retry`, { current_etag: current });
          }
          upsert.run(groupId, INDEX_KEY, JSON.stringify(index), t, conn.aid);
        }
        core.emit(groupId, actionOf(keys), conn.aid, {
          fields: { keys },
          signature: core.relayedSignature(params, 'group.set_settings'),
          mutate: () => write(groupId, written, t, conn.aid),
        });
      })();
      const result = { group_id: groupId, group_aid: groupId, updated_keys: keys };
      const meta = head ? indexMeta(groupId) : null;
      return meta ? withFrameMeta(result, meta) : result;
    },

    /**
     * §3.5: the group's `name`, `visibility` and `description` (the same columns set_settings
     * writes), and `metadata` (an object) and `avatar_ref` (a string), kept as plain settings of
     * those names. Owner and admins; `group.changed` `update` with the keys written.
     */
    'group.update'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const p = params as unknown as Record<string, unknown>;
      const written: Record<string, unknown> = {};
      for (const key of CORE_KEYS) if (p[key] !== undefined) written[key] = validate(key, p[key]);
      if (p.metadata !== undefined) {
        if (typeof p.metadata !== 'object' || p.metadata === null || Array.isArray(p.metadata)) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: metadata must be an object');
        written.metadata = validate('metadata', p.metadata);
      }
      if (p.avatar_ref !== undefined) written.avatar_ref = str(params, 'avatar_ref', { max: 2048 });
      const keys = Object.keys(written);
      if (keys.length === 0) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: give at least one of name, visibility, description, metadata, avatar_ref');
      const g = core.requireGroup(groupId);
      core.requireManager(g, conn.aid, 'update the group');
      const t = core.ctx.now();
      const after = core.emit(groupId, 'update', conn.aid, {
        fields: { keys },
        signature: core.relayedSignature(params, 'group.update'),
        mutate: () => write(groupId, written, t, conn.aid),
      });
      return { group: core.info(after) };
    },

    'group.get_settings'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const keys = (params as { keys?: unknown }).keys;
      if (keys !== undefined && (!Array.isArray(keys) || keys.length > 100 || !keys.every((k) => typeof k === 'string' && k.length <= 128))) {
        throw new RpcError(ErrorCode.InvalidParams, 'invalid params: keys must be an array of at most 100 setting names');
      }
      const g = core.requireGroup(groupId);
      core.requireMember(g, conn.aid);
      const stored = new Map((all.all(groupId) as Row[]).map((r) => [r.key, r]));
      const read = (key: string): GroupSetting => {
        const r = stored.get(key);
        if (r && key !== 'join.mode') return { key, value: JSON.parse(r.value) as unknown, updated_at: r.updated_at, updated_by: r.updated_by };
        return coreSetting(g, key) ?? { key, value: null, updated_at: 0 };
      };
      const names = (keys as string[] | undefined) ?? [...new Set([...CORE_KEYS, 'join.mode', 'dispatch_mode', ...stored.keys()])];
      const result = { group_id: groupId, group_aid: groupId, settings: names.map(read) };
      const meta = (keys as string[] | undefined)?.includes(INDEX_KEY) ? indexMeta(groupId) : null;
      return meta ? withFrameMeta(result, meta) : result;
    },

    'group.search'(params) {
      const query = (str(params, 'query', { optional: true, max: 256 }) ?? str(params, 'q', { optional: true, max: 256 }) ?? str(params, 'keyword', { optional: true, max: 256 }) ?? '').trim();
      const size = Math.min(int(params, 'size', { optional: true, min: 1 }) ?? int(params, 'limit', { optional: true, min: 1 }) ?? 20, MAX_SEARCH);
      const q = query.toLowerCase();
      const rows = search.all(q, q, q, q, size) as { group_id: string }[];
      const total = (countSearch.get(q, q, q, q) as { n: number }).n;
      const items: GroupSearchItem[] = rows.map((r) => {
        const info = core.info(core.requireGroup(r.group_id));
        return { group_id: info.group_id, group_aid: info.group_aid, name: info.name, description: info.description, member_count: info.member_count, visibility: 'public' };
      });
      return { query, page: 1, size, items, total, has_more: total > items.length };
    },
  };
};
