// Debian's Chromium, headless, with the flags every browser test and bench uses (scripts/chromium.mjs).

import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_FLAGS } from '../../scripts/chromium.mjs';

/** `extraArgs` go after the usual flags, e.g. `--ignore-certificate-errors-spki-list=…` for a TLS gateway. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return chromium.launch({ executablePath, args: [...CHROMIUM_FLAGS, ...extraArgs], headless: true });
}
