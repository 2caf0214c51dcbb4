// What every browser test starts with: the web app built (when its sources changed), a test server
// on the embedded store, and Chromium, side by side.
import type { Browser } from 'playwright-core';
import { buildWebApp } from '../../scripts/build-web.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { launchChromium } from './browser.js';

export interface WebAppStack {
  server: TestServer;
  browser: Browser;
  /** The server's origin, where the app is served at /app. */
  origin: string;
  build: Awaited<ReturnType<typeof buildWebApp>>;
}

export async function startWebAppStack(): Promise<WebAppStack> {
  const [build, server, browser] = await Promise.all([buildWebApp({ ifStale: true, quiet: true }), startTestServer('embedded'), launchChromium()]);
  return { server, browser, origin: new URL(server.baseUrl).origin, build };
}
