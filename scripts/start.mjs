// `npm start`: the dev gateway, the push agent and the demo app together. PORT (demo, default
// 5173), GATEWAY_PORT (default 7700), PUSH_AGENT_PORT (default 7710) and PUSH_AGENT_AID (default
// notifier.aun.local) come from the environment; Ctrl-C stops them all.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const gatewayPort = process.env.GATEWAY_PORT ?? '7700';
const demoPort = process.env.PORT ?? '5173';
const pushAgentPort = process.env.PUSH_AGENT_PORT ?? '7710';
const pushAgentAid = process.env.PUSH_AGENT_AID ?? 'notifier.aun.local';
const children = [];

function run(name, cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  child.on('exit', (code, signal) => {
    console.log(`[start] ${name} exited (${signal ?? code})`);
    shutdown(code ?? 1);
  });
  children.push(child);
}

let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 300).unref();
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

run('gateway', 'npx', ['tsx', 'gateway/cli.ts', '--port', gatewayPort, '--push-agents', pushAgentAid, ...process.argv.slice(2)]);
console.log(`[start] gateway: ws://127.0.0.1:${gatewayPort}/ws (admin: http://127.0.0.1:${gatewayPort}/admin/stats)`);
run('push-agent', 'npx', ['tsx', 'push-agent/cli.ts', '--gateway', `ws://127.0.0.1:${gatewayPort}/ws`, '--aid', pushAgentAid, '--port', pushAgentPort]);
console.log(`[start] push agent ${pushAgentAid}: http://127.0.0.1:${pushAgentPort}/vapid-public-key`);
if (existsSync('demo/index.html')) {
  run('demo', 'npx', ['vite', '--port', demoPort, '--strictPort'], { GATEWAY_PORT: gatewayPort, PUSH_AGENT_PORT: pushAgentPort });
  console.log(`[start] demo:    http://localhost:${demoPort}/`);
}
