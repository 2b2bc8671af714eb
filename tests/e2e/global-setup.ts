// Builds the demo and the worker once per e2e run; every test file serves the same bundle.
import { build } from 'vite';

export default async function setup(): Promise<void> {
  await build({ configFile: 'vite.config.ts', logLevel: 'warn' });
}
