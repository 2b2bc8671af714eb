// The package as an app installs it: `npm run build:lib` output, the exports map resolved by Node
// (package self-reference) and by TypeScript (moduleResolution bundler), and `sideEffects`.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const lib = path.join(repo, 'dist/lib');
const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');

type Exports = Record<string, string | Record<string, string>>;
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  name: string; sideEffects: unknown; files: string[]; exports: Exports; typesVersions: Record<string, Record<string, string[]>>;
};

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

// An app outside the repository with the package installed (as a link, like `npm link`).
let app: string;

beforeAll(async () => {
  await run('npm', ['run', '--silent', 'build:lib'], { cwd: repo });
  app = mkdtempSync(path.join(tmpdir(), 'aun-package-'));
  mkdirSync(path.join(app, 'node_modules'));
  symlinkSync(repo, path.join(app, 'node_modules', pkg.name), 'dir');
}, 90_000);

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('package.json', () => {
  it('is side-effect free, and every export target is built and published', () => {
    // Bundlers may drop any module a tab or the worker does not use: none is imported for a side
    // effect (tests/e2e/package-worker.test.ts loads the worker built that way).
    expect(pkg.sideEffects).toBe(false);
    expect(Object.keys(pkg.exports).sort()).toEqual(['./client', './package.json', './protocol', './push', './push-sw', './virtual', './vite', './worker']);
    const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
    for (const t of targets) {
      expect(existsSync(path.join(repo, t)), t).toBe(true);
      if (t !== './package.json') expect(pkg.files.some((f) => t.startsWith(`./${f}`)), `${t} is in "files"`).toBe(true);
    }
    // Older resolvers (moduleResolution node10) find the same declarations.
    for (const [sub, t] of Object.entries(pkg.exports)) {
      if (typeof t === 'object' && t.types) expect(pkg.typesVersions['*']![sub.slice(2)]).toEqual([t.types]);
    }
  });
});

describe('npm run build:lib', () => {
  it('emits JS and declarations for the client, the protocol, the worker and the Vite plugin', () => {
    for (const f of ['client-stub/index', 'protocol/index', 'worker/main', 'vite-plugin/index']) {
      expect(existsSync(path.join(lib, `${f}.js`)), `${f}.js`).toBe(true);
      expect(existsSync(path.join(lib, `${f}.d.ts`)), `${f}.d.ts`).toBe(true);
    }
    expect(readFileSync(path.join(lib, 'client-stub/index.d.ts'), 'utf8')).toMatch(/export declare function connect\(/);
    expect(readFileSync(path.join(lib, 'protocol/index.d.ts'), 'utf8')).toMatch(/export \{[^}]*\bAunError\b[^}]*\} from '.\/errors.ts'/);
    // Only the library: no tests, gateway or demo.
    expect(readdirSync(lib).sort()).toEqual(['client-stub', 'protocol', 'vite-plugin', 'worker']);
  });

  it('rewrites the sources\' .ts import specifiers to .js in the emitted JS', () => {
    const js = walk(lib).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(20);
    for (const f of js) {
      const code = readFileSync(f, 'utf8');
      expect(code, f).not.toMatch(/\bfrom\s+["']\.{1,2}\/[^"']*\.ts["']/);
      expect(code, f).not.toMatch(/\bimport\(\s*["']\.{1,2}\/[^"']*\.ts["']/);
    }
  });
});

describe('the exports map', () => {
  it.each([
    ['inside the package (self-reference)', () => repo],
    ['from an app that installed it', () => app],
  ])('resolves and loads in Node through the package name, %s', async (_where, cwd) => {
    const script = `
      const out = {};
      for (const s of ['client', 'protocol', 'worker', 'vite']) out[s] = import.meta.resolve('aun-worker/' + s);
      const protocol = await import('aun-worker/protocol');
      const client = await import('aun-worker/client');
      const vite = await import('aun-worker/vite');
      const err = protocol.errorFromRpc({ code: -32601, message: 'nope' });
      out.error = [err instanceof protocol.AunError, err instanceof client.AunError, err.code];
      out.connect = typeof client.connect;
      out.entry = vite.aunWorker({ build: 'b', builtAt: 1 }).api.entry;
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: cwd() });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    const url = (f: string) => `file://${path.join(lib, f)}`;
    expect(out).toEqual({
      client: url('client-stub/index.js'),
      protocol: url('protocol/index.js'),
      worker: url('worker/main.js'),
      vite: url('vite-plugin/index.js'),
      error: [true, true, -32601],
      connect: 'function',
      // The installed plugin bundles the installed worker build.
      entry: path.join(lib, 'worker/main.js'),
    });
  });

  it('type-checks an app that imports every subpath (moduleResolution bundler)', async () => {
    const dir = app;
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [],
        strict: true, noEmit: true, skipLibCheck: false, noUncheckedSideEffectImports: true,
      },
      files: ['app.ts'],
    }));
    writeFileSync(path.join(dir, 'app.ts'), `/// <reference types="aun-worker/virtual" />
import 'aun-worker/worker';
import { AunClient, AunError, connect, type ConnectOptions, type InboundMessage, type WorkerFactories } from 'aun-worker/client';
import { errorFromRpc, type ParamsOf, type ResultOf } from 'aun-worker/protocol';
import { aunWorker, type AunWorkerOptions } from 'aun-worker/vite';
import workers, { build, builtAt } from 'virtual:aun-worker';

const factories: WorkerFactories = workers;
const options: ConnectOptions = { worker: factories, build, gateway: 'wss://gateway.example.com/ws', rootCa: 'PEM' };
const when: number = builtAt;
export async function start(): Promise<AunClient> {
  const aun = await connect(options);
  aun.on('message', (m: InboundMessage) => console.log(m.from, m.payload, when));
  const pong: ResultOf<'meta.ping'> = await aun.call('meta.ping', {});
  void pong;
  // @ts-expect-error the method map is real: unknown methods do not type-check
  await aun.call('no.such.method', {});
  return aun;
}
const params: ParamsOf<'message.send'> = { to: 'bob.example.com', payload: { text: 'hi' } };
// @ts-expect-error params are checked against the method map
const wrong: ParamsOf<'message.send'> = { bogus: 1 };
const err: AunError = errorFromRpc({ code: -32601, message: 'nope' });
const pluginOptions: AunWorkerOptions = { build: 'b', builtAt: 1 };
export const plugin = aunWorker(pluginOptions);
export { params, wrong, err };
`);
    const result = await run(process.execPath, [tsc, '-p', dir], { cwd: dir }).then(
      () => ({ ok: true, output: '' }),
      (e: { stdout?: string }) => ({ ok: false, output: e.stdout ?? String(e) }),
    );
    expect(result).toEqual({ ok: true, output: '' });
  }, 30_000);
});
