// The dev gateway as a child process for the fuzzer (`node --import tsx gateway/cli.ts`), so a
// crash is an exit we can see rather than the end of the fuzzer itself; and its resident memory.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface GatewayChild {
  url: string;
  httpUrl: string;
  rootPem: string;
  process: ChildProcess;
  /** Set once the process exited (code or signal). */
  exited: string | null;
  /** The last lines it printed (for a crash note). */
  output(): string;
  rssMiB(): number;
  stop(): Promise<void>;
}

export async function startGatewayChild(): Promise<GatewayChild> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aun-fuzz-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', '--port', '0', '--data', dataDir, '--quiet'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => { out = (out + String(d)).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not ready in 30 s: ${out}`)), 30_000);
    child.stdout!.on('data', () => {
      const m = /on (ws:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`gateway exited (${code}) before ready: ${out}`)); });
  });
  const httpUrl = url.replace(/^ws/, 'http').replace(/\/ws$/, '');
  const handle: GatewayChild = {
    url,
    httpUrl,
    rootPem: await (await fetch(`${httpUrl}/pki/root.crt`)).text(),
    process: child,
    exited: null,
    output: () => out,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    async stop() {
      if (handle.exited === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => { clearTimeout(t); resolve(); });
          child.kill('SIGTERM');
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  child.once('exit', (code, signal) => { handle.exited = `code ${code} signal ${signal}`; });
  return handle;
}
