// Builds the demo and the worker once per e2e run; every test file serves the same bundle.
import { build } from 'vite';

export default async function setup(): Promise<void> {
  // AUN_E2E_DIST lets two e2e runs on one machine build into different directories.
  await build({ configFile: 'vite.config.ts', logLevel: 'warn', ...(process.env.AUN_E2E_DIST ? { build: { outDir: process.env.AUN_E2E_DIST } } : {}) });
}
