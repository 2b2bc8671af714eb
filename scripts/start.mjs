// `npm start`: the dev gateway and the demo app together. PORT (demo, default 5173) and
// GATEWAY_PORT (default 7700) come from the environment; Ctrl-C stops both.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const gatewayPort = process.env.GATEWAY_PORT ?? '7700';
const demoPort = process.env.PORT ?? '5173';
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

run('gateway', 'npx', ['tsx', 'gateway/cli.ts', '--port', gatewayPort, ...process.argv.slice(2)]);
// The admin API stays off (the demo and its inspector do not use it); `npm start -- --admin` turns it on.
console.log(`[start] gateway: ws://127.0.0.1:${gatewayPort}/ws`);
if (existsSync('demo/index.html')) {
  run('demo', 'npx', ['vite', '--port', demoPort, '--strictPort'], { GATEWAY_PORT: gatewayPort });
  console.log(`[start] demo:    http://localhost:${demoPort}/`);
}
