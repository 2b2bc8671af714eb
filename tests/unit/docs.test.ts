// The docs in docs/ list things the code defines: error classes, error and close codes, E2EE
// rejection reasons, internal-only methods, the facade, the dev gateway's routes. These tests
// read the code and fail when something new is added without its line in the docs.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CloseCode, ERROR_CLASSES, ErrorCode } from '../../protocol/errors.ts';
import { INTERNAL_ONLY_METHODS } from '../../protocol/methods.ts';
import { FACADE_METHODS } from '../../protocol/tab.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const DOCS = ['docs/architecture.md', 'docs/security-model.md', 'docs/errors.md', 'docs/admin-api.md'];

/** `## Title` → the text up to the next `## ` heading. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  let title: string | null = null;
  let body: string[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^## (.+?)\s*$/.exec(line);
    if (m) {
      if (title !== null) out.set(title, body.join('\n'));
      title = m[1]!;
      body = [];
    } else body.push(line);
  }
  if (title !== null) out.set(title, body.join('\n'));
  return out;
}

function section(markdown: string, title: RegExp): string {
  const found = [...sections(markdown)].filter(([t]) => title.test(t));
  expect(found.map(([t]) => t), `exactly one "## " section matching ${title}`).toHaveLength(1);
  return found[0]![1];
}

/** The first cell of every table row, without backticks. */
function firstCells(text: string): Set<string> {
  const cells = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    cells.add(line.split('|')[1]!.trim().replace(/`/g, ''));
  }
  return cells;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

const errorsMd = read('docs/errors.md');

describe('docs/errors.md', () => {
  const headings = new Set(sections(errorsMd).keys());

  it('has a "## <Name>" section for every class in ERROR_CLASSES', () => {
    const missing = Object.keys(ERROR_CLASSES).filter((name) => !headings.has(name));
    expect(missing, 'error classes without a section in docs/errors.md').toEqual([]);
  });

  it('has a section for every error class exported by protocol/, worker/ and client-stub/', () => {
    const exported = ['protocol', 'worker', 'client-stub'].flatMap(tsFiles).flatMap((file) =>
      [...read(file).matchAll(/^export class (\w+Error) extends \w+/gm)].map((m) => ({ name: m[1]!, file })));
    expect(exported.map((e) => e.name)).toContain('StoreError');
    const missing = exported.filter((e) => !headings.has(e.name)).map((e) => `${e.name} (${e.file})`);
    expect(missing, 'exported error classes without a section in docs/errors.md').toEqual([]);
  });

  it('documents UpdateRequiredError', () => {
    expect(headings.has('UpdateRequiredError')).toBe(true);
  });

  it('lists every ErrorCode, by value and name, in the error code table', () => {
    const table = section(errorsMd, /error codes$/i);
    const values = firstCells(table);
    for (const [name, code] of Object.entries(ErrorCode)) {
      expect(values.has(String(code)), `ErrorCode.${name} (${code}) is not a row of the table`).toBe(true);
      expect(table, `ErrorCode.${name}`).toMatch(new RegExp(`\\|\\s*\`?${code}\`?\\s*\\|\\s*${name}\\s*\\|`));
    }
  });

  it('lists every CloseCode, by value and name, in the close code table', () => {
    const table = section(errorsMd, /close codes$/i);
    const values = firstCells(table);
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(values.has(String(code)), `CloseCode.${name} (${code}) is not a row of the table`).toBe(true);
      expect(table, `CloseCode.${name}`).toMatch(new RegExp(`\\|\\s*\`?${code}\`?\\s*\\|\\s*${name}\\s*\\|`));
    }
  });

  it('lists every E2EE rejection reason (E2eeErrorReason) and the catch-all "error"', () => {
    const source = read('worker/e2ee/errors.ts');
    const union = /export type E2eeErrorReason =([^;]+);/.exec(source)?.[1] ?? '';
    const reasons = [...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
    expect(reasons.length).toBeGreaterThan(5);
    const rows = firstCells(section(errorsMd, /rejection reasons$/i));
    const missing = [...reasons, 'error'].filter((r) => !rows.has(r));
    expect(missing, 'reasons without a row in docs/errors.md').toEqual([]);
  });

  it('lists every SPK rejection reason', () => {
    const source = read('worker/e2ee/errors.ts');
    const union = /export type SpkRejection =([^;]+);/.exec(source)?.[1] ?? '';
    const reasons = [...union.matchAll(/'([a-z_0-9]+)'/g)].map((m) => m[1]!);
    expect(reasons.length).toBeGreaterThan(5);
    const text = section(errorsMd, /^SpkVerificationError$/);
    expect(reasons.filter((r) => !text.includes(`\`${r}\``))).toEqual([]);
  });
});

describe('docs/admin-api.md', () => {
  const source = read('gateway/http.ts');
  const doc = read('docs/admin-api.md');

  it('documents every admin route of gateway/http.ts with its method', () => {
    const gets = [...source.matchAll(/action === '([\w-]+)' && req\.method === 'GET'/g)].map((m) => `GET /admin/${m[1]}`);
    const posts = [...source.matchAll(/^\s*case '([\w-]+)':/gm)].map((m) => `POST /admin/${m[1]}`);
    const routes = [...gets, ...posts];
    // If the routes move to another shape, this parser must follow them.
    expect(gets).toContain('GET /admin/stats');
    expect(posts.length).toBeGreaterThanOrEqual(6);
    const missing = routes.filter((r) => !doc.includes(r));
    expect(missing, 'admin routes missing from docs/admin-api.md').toEqual([]);
    const headed = routes.filter((r) => !doc.includes(`### ${r}\n`));
    expect(headed, 'admin routes without their own "### <METHOD> <route>" section').toEqual([]);
  });

  it('documents every public path of gateway/http.ts', () => {
    const paths = [
      ...[...source.matchAll(/path === '([^']+)'/g)].map((m) => m[1]!),
      ...[...source.matchAll(/path\.startsWith\('([^']+)'\)/g)].map((m) => m[1]!),
    ].filter((p) => p !== '/admin/');
    expect(paths).toContain('/health');
    const missing = paths.filter((p) => !doc.includes(`GET ${p}`));
    expect(missing, 'paths missing from docs/admin-api.md').toEqual([]);
  });
});

describe('docs/security-model.md', () => {
  const doc = read('docs/security-model.md');

  it('lists every internal-only method', () => {
    const missing = [...INTERNAL_ONLY_METHODS].filter((m) => !doc.includes(`\`${m}\``));
    expect(missing, 'INTERNAL_ONLY_METHODS missing from docs/security-model.md').toEqual([]);
  });

  it('lists every facade method', () => {
    const missing = [...FACADE_METHODS].filter((m) => !doc.includes(`\`${m}\``));
    expect(missing, 'FACADE_METHODS missing from docs/security-model.md').toEqual([]);
  });
});

describe('docs links and picture', () => {
  it('every relative link of these docs points at a file that exists', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (target === '' || /^[a-z]+:/i.test(target)) continue;
        const path = join(ROOT, dirname(file), target);
        if (!existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('architecture.svg is well-formed: every tag closes, in order', () => {
    const svg = read('docs/architecture.svg');
    expect(read('docs/architecture.md')).toContain('(architecture.svg)');
    const stack: string[] = [];
    for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
      const [, closing, name, selfClosing] = m;
      if (selfClosing) continue;
      if (!closing) stack.push(name!);
      else expect(stack.pop(), `</${name}> at offset ${m.index}`).toBe(name);
    }
    expect(stack).toEqual([]);
    expect(svg.startsWith('<svg ')).toBe(true);
  });
});
