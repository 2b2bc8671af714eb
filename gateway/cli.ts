// `npm run gateway -- --port <n> --data <dir|:memory:> --issuer <domain> [--token-ttl <s>]
//  [--host <addr>] [--heartbeat <s>] [--tls] [--admin] [--push-agents <aid,…>] [--quiet]`

import { parseArgs } from 'node:util';
import { startGateway } from './server.ts';

const DEFAULT_GATEWAY_PORT = 7700;
const DEFAULT_DATA_DIR = '.data/gateway';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.GATEWAY_PORT ?? String(DEFAULT_GATEWAY_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: DEFAULT_DATA_DIR },
    issuer: { type: 'string', default: 'aun.local' },
    'token-ttl': { type: 'string' },
    heartbeat: { type: 'string' },
    tls: { type: 'boolean', default: false },
    admin: { type: 'boolean', default: false },
    'push-agents': { type: 'string', default: '' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run gateway -- [--port ${DEFAULT_GATEWAY_PORT}] [--host 127.0.0.1] [--data ${DEFAULT_DATA_DIR}|:memory:]
       [--issuer aun.local] [--token-ttl 3600] [--heartbeat 30] [--tls] [--admin] [--push-agents <aid,…>] [--quiet]
  --tls          serve HTTPS + WSS with a certificate from the gateway's own root (see gateway/README.md)
  --admin        serve the admin / fault-injection API on /admin/*, guarded by a token made at each
                 start (printed below, and written to <data>/admin-token); off by default
  --push-agents  AIDs allowed to act as offline-push agents (none: offline push off; see docs/push.md)`);
  process.exit(0);
}

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${text}`);
    process.exit(2);
  }
  return n;
}

const started = performance.now();
const gateway = await startGateway({
  port: integer('port', values.port, 0),
  host: values.host,
  dataDir: values.data,
  issuer: values.issuer,
  tokenTtl: integer('token-ttl', values['token-ttl'], 1),
  heartbeatInterval: integer('heartbeat', values.heartbeat, 1),
  tls: values.tls,
  admin: values.admin,
  pushAgents: values['push-agents'].split(',').map((a) => a.trim()).filter((a) => a !== ''),
  log: values.quiet ? undefined : (line) => console.log(`[gateway] ${new Date().toISOString()} ${line}`),
});
console.log(`[gateway] AUN dev gateway for issuer ${gateway.config.issuer} on ${gateway.url} (http ${gateway.httpUrl}, data ${values.data}) ready in ${Math.round(performance.now() - started)} ms`);
if (gateway.adminToken) {
  const where = gateway.adminTokenPath ? ` (also in ${gateway.adminTokenPath})` : '';
  console.log(`[gateway] admin API on ${gateway.httpUrl}/admin/*: send Authorization: Bearer ${gateway.adminToken}${where}`);
}
if (gateway.tls) {
  console.log(`[gateway] TLS: root ${gateway.httpUrl}/pki/root.crt (curl --cacert, Node \`ca\`); server key SPKI sha256 ${gateway.tls.spkiSha256}`);
  console.log(`[gateway] TLS: Chromium without touching system trust: --user-data-dir=<dir> --ignore-certificate-errors-spki-list=${gateway.tls.spkiSha256}`);
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`[gateway] ${signal}: closing`);
  await gateway.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
