// `aun-worker/vite`: the Vite plugin an app adds to bundle the owner worker the right way. Node
// side only; nothing in a tab imports this file.
//
//   - defines `__AUN_BUILD__` (build id) and `__AUN_BUILT_AT__` (epoch ms), which the client and
//     the worker read to tell builds apart and to pick the newer one during a version handoff;
//   - serves `virtual:aun-worker`, whose factories start the worker from `new URL(<entry>,
//     import.meta.url)` so that Vite emits it as its own same-origin ES chunk (never a blob: URL;
//     a CSP with `worker-src 'self'` works);
//   - builds workers as ES modules (`worker.format: 'es'`);
//   - in dev, pre-bundles the worker's npm dependencies with the app's (`optimizeDeps.include`):
//     the dev server's scan does not follow `new URL(…)` into a worker, so it would find them only
//     when the worker first loads, re-optimize and reload the page;
//   - in dev, warms the worker's module graph when the server starts (`server.warmup`): the first
//     tab then finds its ~100 worker modules transformed instead of waiting for each in turn.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import type { Plugin } from 'vite';

export const VIRTUAL_ID = 'virtual:aun-worker';
const RESOLVED_ID = '\0' + VIRTUAL_ID;

export interface AunWorkerOptions {
  /** Build id. Default: env `AUN_BUILD`, else `<package version>+<ISO time of builtAt>`. */
  build?: string;
  /** Build time, epoch ms. Default: env `AUN_BUILT_AT`, else the time `aunWorker()` runs (Vite loading its config). */
  builtAt?: number;
  /**
   * The worker entry module (absolute, or relative to the Vite root). Default: aun-worker's own
   * worker (`aun-worker/worker`). Set it when you wrap the runtime in a worker of your own.
   */
  entry?: string;
  /**
   * Marks the chunk that holds the tab's client (`aun-worker/client`) for eager compilation with
   * V8's explicit compile hint (`//# allFunctionsCalledOnLoad`, Chromium 136+; other engines
   * ignore it): nearly all of the client runs while a tab connects, and compiled as the script
   * loads (and kept in the browser's code cache) instead of function by function on first call,
   * it is no longer compiled on the main thread inside `connect()`. Off by default: it tags the
   * whole chunk, and where the bundler put the client in one chunk with most of the app, all of
   * that would be compiled eagerly too.
   */
  eagerClient?: boolean;
}

/** What the plugin decided, for tools and tests: `plugin.api`. */
export interface AunWorkerApi {
  readonly build: string;
  readonly builtAt: number;
  readonly entry: string;
}

const here = fileURLToPath(import.meta.url);
// Next to this file in both layouts: the sources (vite-plugin/index.ts → worker/main.ts) and the
// published build (dist/lib/vite-plugin/index.js → dist/lib/worker/main.js).
const DEFAULT_ENTRY = path.resolve(path.dirname(here), '..', 'worker', `main${path.extname(here)}`);
/** The tab's client (`aun-worker/client`), in the same two layouts. */
const CLIENT_ENTRY = path.resolve(path.dirname(here), '..', 'client-stub', `index${path.extname(here)}`);
/** V8's explicit compile hint: every function of the script is compiled as it loads. */
export const EAGER_HINT = '//# allFunctionsCalledOnLoad';

/** Every npm module the default worker imports (a unit test keeps this list in step with the code). */
export const WORKER_DEPS: readonly string[] = [
  '@noble/curves/nist.js',
  '@noble/hashes/sha2.js',
  '@oslojs/asn1',
  'comlink',
  'idb',
];

/**
 * How the app's dev server names them: from the app root directly when the worker is this
 * repository's own source, through the installed package (`aun-worker > dep`, which also works
 * where the package manager does not hoist them) when it lives in node_modules.
 */
function workerDeps(): string[] {
  const installed = DEFAULT_ENTRY.split(path.sep).includes('node_modules');
  return WORKER_DEPS.map((d) => (installed ? `aun-worker > ${d}` : d));
}

function packageVersion(): string {
  for (let dir = path.dirname(here); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'aun-worker' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}

function envBuiltAt(): number | undefined {
  const raw = process.env.AUN_BUILT_AT;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`AUN_BUILT_AT must be epoch milliseconds (an integer), got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The build id is unique per build by default: the worker chunk embeds `builtAt`, so its URL
 * changes with every build, and an id reused across builds would give two different worker
 * scripts the same versioned name. Pin both (`build` and `builtAt`, or AUN_BUILD and
 * AUN_BUILT_AT) for a reproducible build.
 */
function resolveIdentity(options: AunWorkerOptions): { build: string; builtAt: number } {
  const builtAt = options.builtAt ?? envBuiltAt() ?? Date.now();
  const build = options.build ?? (process.env.AUN_BUILD || `${packageVersion()}+${new Date(builtAt).toISOString()}`);
  return { build, builtAt };
}

/** Vite resolves `new URL('/abs/path', import.meta.url)` as a file path; keep it in posix form. */
const toUrlPath = (p: string) => p.split(path.sep).join('/');

function virtualModule(entry: string, build: string, builtAt: number): string {
  const url = JSON.stringify(toUrlPath(entry));
  // Each constructor is written out literally: Vite only bundles `new (Shared)Worker(new URL(
  // '<static string>', import.meta.url), { type: 'module' … })`.
  return [
    `export const build = ${JSON.stringify(build)};`,
    `export const builtAt = ${builtAt};`,
    `export function shared(name) { return new SharedWorker(new URL(${url}, import.meta.url), { type: 'module', name }); }`,
    `export function dedicated(name) { return new Worker(new URL(${url}, import.meta.url), { type: 'module', name }); }`,
    `export default { shared, dedicated };`,
  ].join('\n');
}

/** The Vite plugin: `plugins: [aunWorker()]`, then `import workers from 'virtual:aun-worker'`. */
export function aunWorker(options: AunWorkerOptions = {}): Plugin<AunWorkerApi> & { api: AunWorkerApi } {
  const { build, builtAt } = resolveIdentity(options);
  let entry = DEFAULT_ENTRY;
  return {
    name: 'aun-worker',
    api: {
      build,
      builtAt,
      get entry() {
        return entry;
      },
    },
    config(_config, env) {
      return {
        define: { __AUN_BUILD__: JSON.stringify(build), __AUN_BUILT_AT__: String(builtAt) },
        worker: { format: 'es' },
        // An app's own worker entry imports what it likes: the dev server finds those itself.
        ...(options.entry ? {} : { optimizeDeps: { include: workerDeps() } }),
        ...(env.command === 'serve' ? { server: { warmup: { clientFiles: [options.entry ?? DEFAULT_ENTRY] } } } : {}),
      };
    },
    configResolved(config) {
      if (options.entry) entry = path.resolve(config.root, options.entry);
      // Browsers start worker scripts from the page's own origin only.
      if (/^[a-z][a-z\d+.-]*:\/\//i.test(config.base)) {
        config.logger.warn(`[aun-worker] base ${config.base} is an absolute URL: a browser starts a worker only from the page's own origin, so serve the page from there too, or use a path as base`);
      }
    },
    resolveId(id) {
      return id === VIRTUAL_ID ? RESOLVED_ID : undefined;
    },
    load(id) {
      return id === RESOLVED_ID ? virtualModule(entry, build, builtAt) : undefined;
    },
    // A banner added after minification (which drops comments), source maps shifted with it; the
    // hint must be the script's first line, so it goes before any banner of the app's own.
    outputOptions(output) {
      if (!options.eagerClient) return null;
      const own = output.postBanner;
      return {
        ...output,
        postBanner: async (chunk) => {
          const banner = typeof own === 'function' ? await own(chunk) : own ?? '';
          return chunk.moduleIds.some((id) => toUrlPath(id) === toUrlPath(CLIENT_ENTRY)) ? `${EAGER_HINT}${banner ? `\n${banner}` : ''}` : banner;
        },
      };
    },
  };
}

export default aunWorker;
