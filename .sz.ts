import { gzipSync } from 'node:zlib';
import { build } from 'vite';
for (const entry of process.argv.slice(2)) {
const out: any = await build({ configFile: false, logLevel: 'silent', build: { write: false, minify: true, target: 'es2022', lib: { entry, formats: ['es'], fileName: 'out' } } });
let all = ''; for (const o of (Array.isArray(out) ? out : [out])) for (const c of o.output) if (c.type === 'chunk') all += c.code;
console.log(entry, (all.length/1024).toFixed(1), (gzipSync(all, { level: 9 }).length / 1024).toFixed(1));
}
