// `npm start` (scripts/start.mjs) as a user runs it, on free ports: the gateway, the push agent and
// the demo in one process group, a ready line once both listen, and any end (a child dying, Ctrl-C) leaving no
// process of the group and both ports free. Linux: the group is read from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** pid → pgid and ppid of every process, from /proc. */
function processes(): Map<number, { pgid: number; ppid: number }> {
  const out = new Map<number, { pgid: number; ppid: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { ppid: Number(f[1]), pgid: Number(f[2]) });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

function groupMembers(pgid: number): number[] {
  return [...processes()].filter(([, p]) => p.pgid === pgid).map(([pid]) => pid);
}

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

async function freePort(): Promise<number> {
  const srv = await listen();
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function portIsFree(port: number): Promise<boolean> {
  try {
    const srv = await listen(port);
    await new Promise((r) => srv.close(r));
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Started {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  ports: { demo: number; gateway: number; agent: number };
}

let groups: number[] = [];

/** `npm start` on two free ports, with an in-memory gateway. */
async function start(extra: string[] = [], ports?: Started['ports']): Promise<Started> {
  const p = ports ?? { demo: await freePort(), gateway: await freePort(), agent: await freePort() };
  const proc = spawn('npm', ['start', '--', '--data', ':memory:', '--quiet', ...extra], {
    cwd: repo, env: { ...process.env, PORT: String(p.demo), GATEWAY_PORT: String(p.gateway), PUSH_AGENT_PORT: String(p.agent) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, output: () => out, exited, ports: p };
}

async function ready(s: Started): Promise<{ group: number; gateway: number; agent: number; demo: number }> {
  await until('the ready line', () => /\[start\] ready:/.test(s.output()) || s.proc.exitCode !== null, 90_000);
  expect(s.output()).toMatch(/\[start\] ready: demo http:\/\/localhost:\d+\/ · gateway ws:\/\/127\.0\.0\.1:\d+\/ws/);
  const m = /\[start\] pids: group (\d+), gateway (\d+), push agent (\d+), demo (\d+)/.exec(s.output());
  expect(m, s.output()).not.toBeNull();
  const [group, gateway, agent, demo] = [Number(m![1]), Number(m![2]), Number(m![3]), Number(m![4])];
  groups.push(group);
  return { group, gateway, agent, demo };
}

/** The group is empty and every port is free again. */
async function expectAllGone(s: Started, group: number): Promise<void> {
  await until('npm start to exit', () => s.proc.exitCode !== null || s.proc.signalCode !== null, 30_000);
  await until(`no process left in group ${group}`, () => groupMembers(group).length === 0, 15_000);
  expect(await portIsFree(s.ports.gateway)).toBe(true);
  expect(await portIsFree(s.ports.demo)).toBe(true);
  expect(await portIsFree(s.ports.agent)).toBe(true);
}

afterEach(() => {
  // A failed test must not leave its servers behind.
  for (const g of groups) for (const pid of groupMembers(g)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  groups = [];
});

describe('npm start', () => {
  it('runs all three in one group of its own; the gateway dying stops the rest too and frees every port', async () => {
    const s = await start();
    const { group, gateway, agent, demo } = await ready(s);
    const members = groupMembers(group);
    expect(members).toContain(gateway);
    expect(members).toContain(agent);
    expect(members).toContain(demo);
    expect(group).not.toBe(process.pid);
    process.kill(gateway, 'SIGKILL');
    await expectAllGone(s, group);
    expect(await s.exited).not.toBe(0);
    expect(s.output()).toMatch(/\[start\] gateway exited \(SIGKILL\): stopping everything/);
  }, 150_000);

  it('Ctrl-C (SIGINT to the npm start process) stops every process of the group', async () => {
    const s = await start();
    const { group } = await ready(s);
    // The process the terminal signals: the parent of the group leader.
    const outer = processes().get(group)!.ppid;
    process.kill(outer, 'SIGINT');
    await expectAllGone(s, group);
  }, 150_000);

  it('refuses a port in use with a clear message and starts nothing', async () => {
    const taken = await listen();
    try {
      const s = await start([], { demo: await freePort(), gateway: (taken.address() as { port: number }).port, agent: await freePort() });
      expect(await s.exited).toBe(1);
      expect(s.output()).toMatch(/port \d+ \(gateway\) is already in use/);
      expect(s.output()).not.toMatch(/\[start\] pids/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, 60_000);

  it('--no-gateway runs the demo alone, for a gateway started and restarted on its own', async () => {
    const s = await start(['--no-gateway']);
    await until('the ready line', () => /\[start\] ready:/.test(s.output()) || s.proc.exitCode !== null, 90_000);
    expect(s.output()).toMatch(/\[start\] ready: demo http:\/\/localhost:\d+\/ · no gateway: run `npm run gateway -- --port \d+`/);
    const m = /\[start\] pids: group (\d+), demo (\d+)/.exec(s.output());
    expect(m, s.output()).not.toBeNull();
    const group = Number(m![1]);
    groups.push(group);
    expect(await portIsFree(s.ports.gateway)).toBe(true);
    process.kill(processes().get(group)!.ppid, 'SIGINT');
    await expectAllGone(s, group);
  }, 150_000);
});
