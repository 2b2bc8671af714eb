import { build } from 'vite';
const out: any = await build({ configFile: false, logLevel: 'silent', build: { write: false, minify: true, target: 'es2022', lib: { entry: process.argv[2], formats: ['es'], fileName: 'out' } } });
for (const o of (Array.isArray(out) ? out : [out])) for (const c of o.output) if (c.type === 'chunk') for (const [id, m] of Object.entries<any>(c.modules)) console.log((m.renderedLength/1024).toFixed(1).padStart(6), id.replace(/.*node_modules\//,''));
