// Gateway footprint: start time of the CLI, resident memory at idle and after 1,000 stored
// messages, and message.send throughput through one socket. Baseline for the throughput:
// meta.ping round trips on the same socket, measured in the same run.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Identity, Session } from '../support/aun-client.ts';
import type { BenchRow } from './report.ts';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

export async function benchGateway(): Promise<BenchRow[]> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', '--port', '0', '--data', ':memory:', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
      const m = /on (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
  });
  const startMs = performance.now() - t0;
  try {
    const http = url.replace(/^ws/, 'http').replace(/\/ws$/, '');
    const rootPem = await (await fetch(`${http}/pki/root.crt`)).text();
    await new Promise((r) => setTimeout(r, 500));
    const idle = rssMiB(child.pid!);
    const ids = [new Identity(`bencha${Date.now()}.aun.local`), new Identity(`benchb${Date.now()}.aun.local`)];
    for (const id of ids) {
      await id.register(url);
      await id.login(url, http, rootPem);
    }
    const [a, b] = [await Session.open(url, ids[0]!), await Session.open(url, ids[1]!)];
    const N = 1000;
    let t = performance.now();
    for (let i = 0; i < 200; i++) await a.call('meta.ping');
    const pingRate = 200 / ((performance.now() - t) / 1000);
    t = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => a.call('message.send', { to: ids[1]!.aid, payload: { type: 'text', text: `m${i} ${'x'.repeat(200)}` } })));
    const sendRate = N / ((performance.now() - t) / 1000);
    await b.until(() => b.eventsNamed('message.received').length >= N, 30_000, 'pushes');
    const loaded = rssMiB(child.pid!);
    a.close();
    b.close();
    return [
      { name: 'gateway: CLI start to ready', value: startMs, unit: 'ms' },
      { name: 'gateway: RSS at idle', value: idle, unit: 'MiB' },
      { name: 'gateway: RSS with 1,000 stored messages', value: loaded, unit: 'MiB' },
      { name: 'gateway: message.send (1,000 in flight, 1 socket)', value: sendRate, unit: 'ops/s', baseline: { name: 'meta.ping sequential round trips', value: pingRate, unit: 'ops/s' } },
    ];
  } finally {
    child.kill('SIGTERM');
  }
}
