// The API reference (docs/api/, `npm run docs`) is generated from the public types of
// client-stub/ and protocol/. This runs TypeDoc's validation without writing anything: a broken
// {@link}, or an exported API that names a type the reference cannot show, fails here.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('TypeDoc', () => {
  it('validates the public API reference with no warnings', async () => {
    const typedoc = path.join(repo, 'node_modules/typedoc/bin/typedoc');
    const result = await promisify(execFile)(process.execPath, [typedoc, '--emit', 'none', '--treatWarningsAsErrors'], { cwd: repo }).then(
      (r) => ({ ok: true, warnings: r.stdout.split('\n').filter((l) => /\[(warning|error)\]/.test(l)) }),
      (e: { stdout?: string; stderr?: string }) => ({ ok: false, warnings: `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n').filter((l) => /\[(warning|error)\]/.test(l)) }),
    );
    expect(result).toEqual({ ok: true, warnings: [] });
  }, 60_000);
});
