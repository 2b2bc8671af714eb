// The Vite plugin (vite-plugin/index.ts) as an app uses it: a fixture app built with Vite, the
// worker emitted as its own same-origin ES chunk, the build defines substituted, and the build id
// rules (option, env AUN_BUILD / AUN_BUILT_AT, default).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { build, createLogger, createServer, resolveConfig, type Rolldown } from 'vite';
import { aunWorker, EAGER_HINT, WORKER_DEPS, type AunWorkerOptions } from '../../../vite-plugin/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, 'fixture');
const repo = path.resolve(here, '../../..');
const version = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;

const BUILD_ID = 'fixture-build-7f3a';
const BUILT_AT = 1_700_000_000_123;

async function buildFixture(options: AunWorkerOptions): Promise<Rolldown.OutputBundle[string][]> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    root: fixture,
    plugins: [aunWorker(options)],
    build: { write: false, minify: true, target: 'es2022' },
  })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
  return (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const textOf = (f: Rolldown.OutputBundle[string]) => (f.type === 'chunk' ? f.code : String(f.source));

/** The URL literals passed to `new SharedWorker(new URL(…))` / `new Worker(new URL(…))`. */
function workerUrls(code: string, ctor: 'SharedWorker' | 'Worker'): string[] {
  const re = new RegExp(`new ${ctor}\\(\\s*new URL\\(\\s*(?:/\\*[^*]*\\*/\\s*)?(["'\`])([^"'\`]+)\\1`, 'g');
  return [...code.matchAll(re)].map((m) => m[2]!);
}

/** Ways to run code from a string, which a strict worker-src/script-src CSP refuses: none may appear. */
function dynamicCode(code: string): string[] {
  const allowed = code;
  return allowed.match(/\beval\b|\bFunction\s*\(|blob:|createObjectURL/g) ?? [];
}

describe('aunWorker() build identity', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('takes the build id and time from the options first', () => {
    vi.stubEnv('AUN_BUILD', 'from-env');
    vi.stubEnv('AUN_BUILT_AT', '5');
    expect(aunWorker({ build: 'opt', builtAt: 7 }).api).toMatchObject({ build: 'opt', builtAt: 7 });
  });

  it('else from AUN_BUILD and AUN_BUILT_AT', () => {
    vi.stubEnv('AUN_BUILD', 'from-env');
    vi.stubEnv('AUN_BUILT_AT', '1700000000000');
    expect(aunWorker().api).toMatchObject({ build: 'from-env', builtAt: 1_700_000_000_000 });
  });

  it('defaults to <version>+<ISO build time>, unique per build', () => {
    vi.stubEnv('AUN_BUILD', '');
    vi.stubEnv('AUN_BUILT_AT', '');
    const before = Date.now();
    const { build: id, builtAt } = aunWorker().api;
    expect(builtAt).toBeGreaterThanOrEqual(before);
    expect(builtAt).toBeLessThanOrEqual(Date.now());
    expect(id).toBe(`${version}+${new Date(builtAt).toISOString()}`);
  });

  it('refuses an AUN_BUILT_AT that is not epoch milliseconds', () => {
    vi.stubEnv('AUN_BUILT_AT', '2025-01-01');
    expect(() => aunWorker()).toThrow(/AUN_BUILT_AT must be epoch milliseconds/);
  });

  it('sets the defines and ES module workers in the Vite config', async () => {
    const plugin = aunWorker({ build: 'x"y', builtAt: 9 });
    const config = await (plugin.config as (c: object, e: object) => unknown)({}, { command: 'build', mode: 'production' });
    expect(config).toEqual({ define: { __AUN_BUILD__: '"x\\"y"', __AUN_BUILT_AT__: '9' }, worker: { format: 'es' }, optimizeDeps: { include: [...WORKER_DEPS] } });
    // An app's own worker entry: its dependencies are its own business.
    const own = await (aunWorker({ entry: 'w.ts' }).config as (c: object, e: object) => unknown)({}, { command: 'serve', mode: 'development' });
    expect(own).not.toHaveProperty('optimizeDeps');
    // The dev server transforms the worker's module graph as it starts, before the first tab asks.
    expect(own).toMatchObject({ server: { warmup: { clientFiles: ['w.ts'] } } });
    const dev = await (plugin.config as (c: object, e: object) => unknown)({}, { command: 'serve', mode: 'development' });
    expect((dev as { server: { warmup: { clientFiles: string[] } } }).server.warmup.clientFiles).toEqual([plugin.api.entry]);
  });

  it('lists every npm module the worker imports, for the dev server to pre-bundle', () => {
    // Bare specifiers of the code the worker bundles: worker/ and protocol/ (type-only imports aside).
    const files = ['worker', 'protocol'].flatMap((d) => walk(path.join(repo, d))).filter((f) => f.endsWith('.ts'));
    const deps = new Set<string>();
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(/^import\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'".][^'"]*)['"]/gm)) deps.add(m[1]!);
    }
    expect([...deps].sort()).toEqual([...WORKER_DEPS].sort());
  });
});

describe('a fixture app built with the plugin', () => {
  it('warns when the base is on another origin, where the browser would refuse the worker', async () => {
    const warnings: string[] = [];
    const customLogger = { ...createLogger('silent'), warn: (msg: string) => void warnings.push(msg) };
    for (const base of ['/app/', 'https://cdn.example.com/app/']) {
      await resolveConfig({ configFile: false, root: fixture, base, customLogger, plugins: [aunWorker({ build: BUILD_ID, builtAt: BUILT_AT })] }, 'build');
    }
    expect(warnings).toEqual([expect.stringContaining('base https://cdn.example.com/app/ is an absolute URL')]);
  });


  it('emits the worker as its own same-origin ES chunk that both factories start, with the build defines substituted', async () => {
    const files = await buildFixture({ build: BUILD_ID, builtAt: BUILT_AT });
    const entry = files.find((f) => f.type === 'chunk' && f.isEntry);
    expect(entry).toBeDefined();
    const app = textOf(entry!);

    // One worker file, next to the app chunk, holding the runtime (not inlined in the app).
    const workers = files.filter((f) => f !== entry && f.fileName.endsWith('.js'));
    expect(workers.map((w) => w.fileName)).toEqual([expect.stringMatching(/^assets\/main-[\w-]+\.js$/)]);
    const worker = textOf(workers[0]!);
    expect(worker).toContain('SharedWorkerGlobalScope');
    expect(app).not.toContain('SharedWorkerGlobalScope');
    expect(worker.length).toBeGreaterThan(50 * app.length);

    // Both factories start that file by a path on the app's own origin (no scheme, no blob:).
    const url = `/${workers[0]!.fileName}`;
    expect(workerUrls(app, 'SharedWorker')).toEqual([url]);
    expect(workerUrls(app, 'Worker')).toEqual([url]);
    expect(worker.trimStart()).not.toMatch(/^(\(function|var \w+=\(function)/); // an ES module, not an IIFE

    // No string is turned into code, in the app or in the worker.
    expect(dynamicCode(app)).toEqual([]);
    expect(dynamicCode(worker)).toEqual([]);

    // The build id and time reach the app (defines and the virtual module) and the worker.
    expect(app).toMatch(new RegExp(`defined:\\{build:(["'\`])${BUILD_ID}\\1,builtAt:${BUILT_AT}\\}`));
    expect(worker).toContain(BUILD_ID);
    expect(worker).toContain(String(BUILT_AT));
    for (const code of [app, worker]) expect(code).not.toMatch(/__AUN_BUILD__|__AUN_BUILT_AT__/);
  }, 30_000);

  it('bundles an app-provided worker entry instead when asked', async () => {
    const files = await buildFixture({ build: BUILD_ID, builtAt: BUILT_AT, entry: 'own-worker.ts' });
    const entry = files.find((f) => f.type === 'chunk' && f.isEntry)!;
    const own = files.find((f) => /^assets\/own-worker-[\w-]+\.js$/.test(f.fileName));
    expect(own).toBeDefined();
    expect(textOf(own!)).toContain(`own-worker ${BUILD_ID}`);
    expect(workerUrls(textOf(entry), 'SharedWorker')).toEqual([`/${own!.fileName}`]);
    expect(files.some((f) => f.fileName.startsWith('assets/main-'))).toBe(false);
  });

  it('serves the same factories from the dev server, pointing at the worker source', async () => {
    const server = await createServer({
      configFile: false,
      logLevel: 'silent',
      root: fixture,
      plugins: [aunWorker({ build: BUILD_ID, builtAt: BUILT_AT })],
      server: { middlewareMode: true, ws: false },
      optimizeDeps: { noDiscovery: true, include: [] },
    });
    try {
      const mod = await server.environments.client.transformRequest('virtual:aun-worker');
      const code = mod?.code ?? '';
      const url = `/@fs${repo.split(path.sep).join('/')}/worker/main.ts?worker_file&type=module`;
      expect(workerUrls(code, 'SharedWorker')).toEqual([url]);
      expect(workerUrls(code, 'Worker')).toEqual([url]);
      expect(code).toContain(`export const build = "${BUILD_ID}"`);
      expect(code).toContain(`export const builtAt = ${BUILT_AT}`);
    } finally {
      await server.close();
    }
  });
});

describe('aunWorker({ eagerClient })', () => {
  /** tests/unit/package/fixture-client: the client in the entry chunk, a lazy chunk beside it. */
  async function buildClientApp(options: AunWorkerOptions): Promise<Rolldown.OutputChunk[]> {
    const out = (await build({
      configFile: false,
      logLevel: 'silent',
      root: path.join(here, 'fixture-client'),
      plugins: [aunWorker(options)],
      build: { write: false, minify: true, sourcemap: true, target: 'es2022' },
    })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
    return (Array.isArray(out) ? out : [out]).flatMap((o) => o.output).filter((f): f is Rolldown.OutputChunk => f.type === 'chunk');
  }

  it('puts V8\'s compile hint first in the chunk that holds the client, after minification, its source map shifted by that line', async () => {
    const chunks = await buildClientApp({ build: BUILD_ID, builtAt: BUILT_AT, eagerClient: true });
    const client = chunks.find((c) => c.isEntry)!;
    const later = chunks.find((c) => c.fileName.includes('later'))!;
    expect(client.code.startsWith(`${EAGER_HINT}\n`)).toBe(true);
    expect(client.code).toContain('aun-tab:'); // the client is in it, minified
    expect(client.map!.mappings.startsWith(';')).toBe(true);
    expect(later.code).not.toContain(EAGER_HINT);
  }, 30_000);

  it('leaves every chunk as built without it', async () => {
    const chunks = await buildClientApp({ build: BUILD_ID, builtAt: BUILT_AT });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.code).not.toContain(EAGER_HINT);
  }, 30_000);
});
