// Vector files on disk, for the Node side of the conformance runner: finding and reading them.
// The check itself is pure and lives in check.ts, so the browser runner uses the same code.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkVector, type VectorFile } from './check.ts';

export { checkVector, parseVector, TAMPER_CASES, type VectorFile, type VectorResult } from './check.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The AUN SDK's vectors, copied into the repo (see vectors/README.md for source and license). */
export const DEFAULT_VECTOR_DIR = resolve(REPO_ROOT, 'tests/conformance/vectors');
export const GENERATED_VECTOR_DIR = resolve(REPO_ROOT, 'tests/conformance/generated');

/** Every `*.json` under `dir`, recursively, in a stable order. */
export function findVectorFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findVectorFiles(path));
    else if (name.endsWith('.json')) out.push(path);
  }
  return out;
}

/** A file as checkVector takes it; its name is the path relative to `root` (default: its folder's parent). */
export function readVectorFile(path: string, root = dirname(dirname(path))): VectorFile {
  return { folder: basename(dirname(path)), name: relative(root, path), json: readFileSync(path, 'utf8') };
}

/** Every vector file under `dir`, read, named relative to `dir`. */
export function readVectorDir(dir: string): VectorFile[] {
  return findVectorFiles(dir).map((path) => readVectorFile(path, dir));
}

/** Runs one vector file; throws an Error whose message is the reason it fails. */
export async function runVectorFile(path: string): Promise<void> {
  const result = await checkVector(readVectorFile(path));
  if (!result.ok) throw new Error(result.reason);
}
