// The dev gateway as a child process (the CLI), so the soak test can SIGKILL it and start it
// again on the same port and data directory.

import { spawn, type ChildProcess } from 'node:child_process';
import type { GatewayStats } from '../../../gateway/http.ts';
import { adminFetch, adminStats, readAdminToken } from '../../support/admin.ts';


export interface GatewayProcessOptions {
  port: number;
  dataDir: string;
  heartbeatS: number;
  log(line: string): void;
}

export class GatewayProcess {
  private child: ChildProcess | null = null;
  private output = '';
  readonly url: string;
  readonly httpUrl: string;
  starts = 0;

  constructor(private readonly opts: GatewayProcessOptions) {
    this.url = `ws://127.0.0.1:${opts.port}/ws`;
    this.httpUrl = `http://127.0.0.1:${opts.port}`;
  }

  /** Starts the CLI and resolves on its ready line; retries while the port is still held. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce();
        this.starts++;
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        this.opts.log(`gateway start attempt ${attempt} failed (${(err as Error).message.split('\n')[0]}); retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private spawnOnce(): Promise<void> {
    const args = ['--import', 'tsx', 'gateway/cli.ts', '--port', String(this.opts.port), '--data', this.opts.dataDir,
      '--heartbeat', String(this.opts.heartbeatS), '--admin', '--quiet'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`no ready line within 20 s: ${this.output}`));
      }, 20_000);
      const onData = (d: Buffer) => {
        this.output += String(d);
        if (/ready in \d+ ms/.test(this.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (this.output += String(d)));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // kill() and stop() forget the child first: an exit of the current child was not asked for.
        const intended = this.child !== child;
        if (!intended) this.child = null;
        reject(new Error(`gateway exited (code ${code}, signal ${signal}) before ready: ${this.output}`));
        if (!intended) this.opts.log(`gateway exited on its own (code ${code}, signal ${signal}): ${this.output.slice(-2000)}`);
      });
    });
  }

  /** SIGKILL: no close frames, no clean shutdown; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  async admin(action: string, body: unknown = {}): Promise<void> {
    const res = await adminFetch(this.httpUrl, readAdminToken(this.opts.dataDir), action, body);
    if (!res.ok) throw new Error(`admin ${action}: ${res.status} ${await res.text()}`);
  }

  async stats(): Promise<GatewayStats> {
    return adminStats<GatewayStats>(this.httpUrl, readAdminToken(this.opts.dataDir));
  }
}
