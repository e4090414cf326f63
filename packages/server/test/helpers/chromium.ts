import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { requireService } from './pombo-harness.ts';

/** Debian's Chromium (`apt-get install -y chromium`); playwright-core drives it, no browser is downloaded. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Test options: skip when Chromium is not installed (fail under CI=true). */
export const chromiumRequired = (): ReturnType<typeof requireService> =>
  requireService(existsSync(CHROMIUM), 'Chromium', `install it with "apt-get install -y chromium" (looked for ${CHROMIUM}; CHROMIUM_PATH overrides)`);

/** A headless Chromium with nothing running in the background (no updates, sync or QUIC). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
