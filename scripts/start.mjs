// `npm start`: the dev gateway, the offline-push agent and the demo app together, in one process
// group of their own, so that stopping (Ctrl-C, or any child exiting) ends every process of it,
// Vite's and tsx's included, and frees the ports. `npm start -- --no-gateway` (`npm run demo`) runs the demo alone, for a
// gateway run and restarted on its own with `npm run gateway`. PORT (demo, default 5173) and
// GATEWAY_PORT (default 7700), PUSH_AGENT_PORT (default 7710) and PUSH_AGENT_AID (default
// notifier.aun.local) come from the environment; other arguments go to the gateway. The push
// agent runs only beside the gateway (see docs/push.md).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const gatewayPort = process.env.GATEWAY_PORT ?? '7700';
const demoPort = process.env.PORT ?? '5173';
const pushAgentPort = process.env.PUSH_AGENT_PORT ?? '7710';
const pushAgentAid = process.env.PUSH_AGENT_AID ?? 'notifier.aun.local';
const args = process.argv.slice(2);
const withGateway = !args.includes('--no-gateway');
const gatewayArgs = args.filter((a) => a !== '--no-gateway');
/** Time the group gets to stop after SIGTERM before SIGKILL. */
const GRACE_MS = 3000;

if (process.env.AUN_START_GROUP !== '1') supervise();
else await lead();

/**
 * The outer process: starts the real one as the leader of a new process group and forwards
 * Ctrl-C and kill to that whole group. The leader also stops when this process dies (its IPC
 * channel closes), so nothing is left under PID 1.
 */
function supervise() {
  const leader = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
    cwd: repo,
    detached: true,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, AUN_START_GROUP: '1' },
  });
  const stopGroup = () => {
    try {
      process.kill(-leader.pid, 'SIGTERM');
    } catch {
      // The group is already gone.
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stopGroup);
  leader.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** The group leader: checks the ports, runs the children, says when both are up, stops them all. */
async function lead() {
  const children = [];
  const wanted = [...(withGateway ? [['gateway', gatewayPort], ['push agent', pushAgentPort]] : []), ['demo', demoPort]];
  for (const [name, port] of wanted) {
    if (!(await portFree(Number(port)))) {
      console.error(`[start] port ${port} (${name}) is already in use: stop what holds it, or set ${{ demo: 'PORT', gateway: 'GATEWAY_PORT', 'push agent': 'PUSH_AGENT_PORT' }[name]}=<another port>`);
      process.exit(1);
    }
  }

  let stopping = false;
  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    process.exitCode = code;
    // The whole group, us included: our own SIGTERM handler makes it a no-op here.
    signal(-process.pid, 'SIGTERM');
    const finish = () => {
      killOthersInGroup();
      process.exit(code);
    };
    setTimeout(finish, GRACE_MS).unref();
    setInterval(() => {
      if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) finish();
    }, 50);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stop(0));
  // The outer `npm start` process is gone (its IPC channel closed): nobody would stop us later.
  process.on('disconnect', () => stop(0));

  const run = (name, cmdArgs, env = {}) => {
    const child = spawn(process.execPath, cmdArgs, { cwd: repo, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code, sig) => {
      if (stopping) return;
      console.log(`[start] ${name} exited (${sig ?? code}): stopping everything`);
      stop(code || 1);
    });
    children.push(child);
    return child;
  };

  const pids = [`group ${process.pid}`];
  if (withGateway) {
    const gw = run('gateway', ['--import', 'tsx', 'gateway/cli.ts', '--port', gatewayPort, '--push-agents', pushAgentAid, ...gatewayArgs], { GATEWAY_PORT: gatewayPort });
    pids.push(`gateway ${gw.pid}`);
    await listening(Number(gatewayPort), () => stopping);
    if (stopping) return;
    const agent = run('push agent', ['--import', 'tsx', 'push-agent/cli.ts', '--gateway', `ws://127.0.0.1:${gatewayPort}/ws`, '--aid', pushAgentAid, '--port', pushAgentPort]);
    pids.push(`push agent ${agent.pid}`);
  }
  if (existsSync(join(repo, 'demo/index.html'))) {
    const demo = run('demo', [join(repo, 'node_modules/vite/bin/vite.js'), '--port', demoPort, '--strictPort'], { GATEWAY_PORT: gatewayPort, PORT: demoPort, PUSH_AGENT_PORT: pushAgentPort });
    pids.push(`demo ${demo.pid}`);
  }
  console.log(`[start] pids: ${pids.join(', ')}`);

  await Promise.all(wanted.map(([, port]) => listening(Number(port), () => stopping)));
  if (stopping) return;
  const gatewayNote = withGateway
    ? `gateway ws://127.0.0.1:${gatewayPort}/ws · push agent http://127.0.0.1:${pushAgentPort}/`
    : `no gateway: run \`npm run gateway -- --port ${gatewayPort}\` (restart it at will)`;
  console.log(`[start] ready: demo http://localhost:${demoPort}/ · ${gatewayNote} · Ctrl-C stops ${withGateway ? 'all' : 'it'}`);
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** SIGKILL to every other process of this group (SIGKILL to the group would take us too). */
function killOthersInGroup() {
  for (const pid of groupPids(process.pid)) {
    if (pid === process.pid) continue;
    signal(pid, 'SIGKILL');
  }
}

/** The processes whose process group is `pgid`, from /proc (Linux); elsewhere only the children are known. */
function groupPids(pgid) {
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start at the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

/** Resolves once something accepts connections on localhost:`port` (or `gaveUp()` says stop). */
async function listening(port, gaveUp) {
  while (!gaveUp()) {
    const ok = await new Promise((resolve) => {
      const s = connect({ port, host: 'localhost' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
