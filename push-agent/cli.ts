// `npm run push-agent -- --gateway ws://127.0.0.1:7700/ws --aid notifier.aun.local [--port 7710]
//  [--host 127.0.0.1] [--data .data/push-agent|:memory:] [--token-ttl <s>] [--subject mailto:…] [--quiet]`

import { parseArgs } from 'node:util';
import { startPushAgent } from './agent.ts';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: `ws://127.0.0.1:${process.env.GATEWAY_PORT ?? '7700'}/ws` },
    aid: { type: 'string', default: 'notifier.aun.local' },
    port: { type: 'string', default: process.env.PUSH_AGENT_PORT ?? '7710' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: '.data/push-agent' },
    'token-ttl': { type: 'string' },
    subject: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run push-agent -- [--gateway ws://127.0.0.1:7700/ws] [--aid notifier.aun.local] [--port 7710]
       [--host 127.0.0.1] [--data .data/push-agent|:memory:] [--token-ttl 604800] [--subject mailto:…] [--quiet]
  The gateway must list the agent: npm run gateway -- --push-agents notifier.aun.local (see docs/push.md)`);
  process.exit(0);
}

const port = Number(values.port);
const tokenTtl = values['token-ttl'] === undefined ? undefined : Number(values['token-ttl']);
if (!Number.isInteger(port) || port < 0 || (tokenTtl !== undefined && (!Number.isInteger(tokenTtl) || tokenTtl < 60))) {
  console.error('--port must be an integer >= 0 and --token-ttl an integer >= 60');
  process.exit(2);
}

const log = (line: string) => console.log(`[push-agent] ${new Date().toISOString()} ${line}`);
const agent = await startPushAgent({
  aid: values.aid,
  gatewayUrl: values.gateway,
  dataDir: values.data === ':memory:' ? null : values.data,
  port,
  host: values.host,
  ...(tokenTtl !== undefined ? { tokenTtl } : {}),
  ...(values.subject ? { vapidSubject: values.subject } : {}),
  ...(values.quiet ? {} : { log }),
});
console.log(`[push-agent] ${agent.aid} on ${agent.httpUrl} (gateway ${values.gateway}); VAPID public key ${agent.vapidPublicKey}`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`[push-agent] ${signal}: closing`);
  await agent.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
