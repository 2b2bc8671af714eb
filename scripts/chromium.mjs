// Finds a Chromium for the browser tests and benchmarks, installing Debian's package when this
// process may (root with apt-get). Prints what to do when it cannot.

import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function find() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    throw new Error(`CHROMIUM_PATH=${fromEnv} is not an executable file`);
  }
  return CANDIDATES.find(executable) ?? null;
}

/** Returns the path of a usable Chromium, or null with an explanation on stderr. */
export function ensureChromium({ install = true } = {}) {
  let path = find();
  if (path) return path;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (install && isRoot && hasApt) {
    console.error('[chromium] not found: installing Debian package "chromium" (apt-get)…');
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (err) {
      console.error(`[chromium] apt-get failed: ${err.message}`);
    }
    path = find();
    if (path) return path;
  }
  console.error(`[chromium] No Chromium found (looked at CHROMIUM_PATH and ${CANDIDATES.join(', ')}).
[chromium] Install one and run again, for example:
[chromium]   Debian/Ubuntu:  sudo apt-get install -y chromium
[chromium]   macOS:          brew install --cask chromium, then CHROMIUM_PATH=/Applications/Chromium.app/Contents/MacOS/Chromium
[chromium]   any system:     CHROMIUM_PATH=/path/to/chrome npm test`);
  return null;
}

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
