// The clinic web app's goals measured in a real browser on a seeded registry:
//   npm run seed -- --data-dir ./data-bench --patients 100000 --immunizations 100000
//   npm run bench:webapp -- --data-dir ./data-bench [--searches 30]
// Starts the server on that data in a child process (production build of the app), signs in with
// Debian's chromium, then prints the time from "Sign in" to a usable first screen and from
// "Search" to the results table (p50/p95 over patients picked from the registry), and the
// gzipped JavaScript size.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { buildWebApp, describeBuild } from '../scripts/build-web.js';
import { TEST_SECRET } from '../test/helpers/server.js';
import { browserMissingReason, launchChromium } from '../test/webapp/browser.js';
import { lastSignInBreakdown, signInUser } from '../test/webapp/sign-in.js';
import { waitReady } from './wait-ready.js';
import { serverEntry } from './server-entry.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: './data-bench' },
    searches: { type: 'string', default: '30' },
    'heap-mb': { type: 'string', default: '6144' },
  },
});

async function main(): Promise<void> {
  const missing = browserMissingReason();
  if (missing) {
    console.log(`bench:webapp skipped: ${missing}`);
    return;
  }
  console.log(describeBuild(await buildWebApp({ ifStale: true })));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const origin = `http://127.0.0.1:${port}`;
  const started = Date.now();
  const child = spawn(process.execPath, [`--max-old-space-size=${values['heap-mb']}`, ...serverEntry()], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), PUBLIC_BASE_URL: origin, AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn', DATA_DIR: path.resolve(values['data-dir'] as string) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const browser = await launchChromium();
  try {
    await waitReady(`${origin}/readyz`);
    console.log(`server ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const token = jwt.sign({ scope: 'system/*.cruds', sub: 'bench' }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
    const get = async (p: string, bearer = token) => (await fetch(`${origin}/fhir/${p}`, { headers: { authorization: `Bearer ${bearer}` } })).json();
    const count = (await get('Patient?_summary=count')).total;
    const samples = ((await get('Patient?_count=500')).entry ?? []).map((e: any) => e.resource).filter((p: any) => p.birthDate && p.name?.[0]?.family && p.active !== false);
    console.log(`data: ${count} Patients; ${samples.length} sampled for searches`);
    if (samples.length === 0) throw new Error('no patients: run `npm run seed` first');

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    // The nurse works at a practice that gave doses (the seed's practices are the doses' performers);
    // its reminder/recall list is run at the end.
    const dose = ((await get('Immunization?_count=1')).entry ?? [])[0]?.resource;
    const organization: string = dose?.performer?.[0]?.actor?.reference ?? samples[0].managingOrganization?.reference ?? 'Organization/bench-clinic';
    const usable = await signInUser(page, origin, token, { username: `bench.nurse.${organization.slice(-8)}`, password: 'bench-password-1', organization });
    console.log(`first screen usable ${usable} ms after "Sign in" (goal < 1500 ms): ${lastSignInBreakdown}`);
    const userToken = await page.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""');
      return JSON.parse(sessionStorage.getItem(key) ?? '{}').tokenResponse?.access_token as string;
    });
    // Only patients the nurse may see (a family that declined sharing is rightly never found).
    const visible = new Set(((await get('Patient?_count=500&_elements=id', userToken)).entry ?? []).map((e: any) => e.resource.id));
    const searchable = samples.filter((p: any) => visible.has(p.id));
    console.log(`${searchable.length} of the sampled patients are visible to the nurse`);

    // Two clocks per search. "Wall": Playwright's click() (its actionability checks included) until
    // it sees the row — what a harness sees. "In page": from the click event to the first frame
    // with the result row in the DOM (requestAnimationFrame after the mutation), split at the
    // $match request's Resource Timing into app work before the request, the request (server and
    // transfer), and reading plus rendering the answer.
    const wall: number[] = [];
    const inPage: number[] = [];
    const beforeRequest: number[] = [];
    const request: number[] = [];
    const serverWait: number[] = [];
    const afterResponse: number[] = [];
    const requestsPerSearch: number[] = [];
    const n = Number(values.searches);
    const cpuBefore = processCpuMs(child.pid);
    for (let i = 0; i < n; i++) {
      const p = searchable[(i * 37) % searchable.length];
      await page.getByLabel('Last name').fill(p.name[0].family);
      await page.getByLabel('First name').fill(p.name[0].given?.[0] ?? '');
      await page.getByLabel('Date of birth').fill(p.birthDate);
      await page.evaluate((id) => {
        const w = window as unknown as Record<string, unknown>;
        performance.clearResourceTimings();
        w.__clickAt = undefined;
        document.addEventListener('click', (e) => (w.__clickAt = e.timeStamp), { capture: true, once: true });
        // Done when the Search button was busy and no longer is, with the row on screen (the
        // summary's text alone can repeat from one search to the next).
        // (No named functions in here: tsx would wrap them in a helper the page does not have.)
        w.__shown = new Promise<number>((resolve, reject) => {
          setTimeout(() => reject(new Error(`Patient/${id} was not shown within 15 s of "Search"`)), 15_000);
          let wasBusy = false;
          const observer = new MutationObserver(() => {
            const busy = document.querySelector('button[data-loading]') !== null;
            wasBusy ||= busy;
            if (!wasBusy || busy || !document.querySelector(`table[aria-label="Search results"] a[href="/app/patients/${id}"]`)) return;
            observer.disconnect();
            requestAnimationFrame(() => resolve(performance.now()));
          });
          observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        });
      }, p.id);
      const t = performance.now();
      await page.getByRole('button', { name: 'Search' }).click();
      const timing = await page.evaluate(async () => {
        const w = window as unknown as Record<string, unknown>;
        const shownAt = await (w.__shown as Promise<number>);
        const entries = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
        const match = entries.filter((e) => e.name.includes('/fhir/')).pop();
        return { clickAt: w.__clickAt as number, shownAt, count: entries.filter((e) => e.name.includes('/fhir/') || e.name.includes('/auth/')).length, match: match && { start: match.startTime, requestStart: match.requestStart, responseStart: match.responseStart, end: match.responseEnd } };
      });
      wall.push(performance.now() - t);
      await page.getByRole('table', { name: 'Search results' }).locator(`a[href="/app/patients/${p.id}"]`).waitFor();
      inPage.push(timing.shownAt - timing.clickAt);
      requestsPerSearch.push(timing.count);
      if (timing.match) {
        beforeRequest.push(timing.match.start - timing.clickAt);
        request.push(timing.match.end - timing.match.start);
        serverWait.push(timing.match.responseStart - timing.match.requestStart);
        afterResponse.push(timing.shownAt - timing.match.end);
      }
    }
    const serverCpu = (processCpuMs(child.pid) - cpuBefore) / n;
    console.log(`search results on screen after "Search" (n=${n}, ${count} Patients; goal < 300 ms):`);
    console.log(`  in the page, click event → first frame showing the results: ${stats(inPage)}`);
    console.log(`    app work before the request ${stats(beforeRequest)}`);
    console.log(`    the Patient/$match request ${stats(request)} (waiting for the server's first byte ${stats(serverWait)})`);
    console.log(`    reading the answer and rendering ${stats(afterResponse)}`);
    console.log(`    requests per search: ${[...new Set(requestsPerSearch)].join(', ')}; server CPU per search ${serverCpu.toFixed(1)} ms`);
    console.log(`  wall clock around Playwright's click() until it sees the row: ${stats(wall)}`);
    // The same searches straight to the server, with the nurse's token and with a public-health
    // system token: how much of the time is $match itself, and its data-sharing filter.
    for (const [who, bearer] of [
      ['the nurse', userToken],
      ['a public-health system client', token],
    ] as const) {
    const direct: number[] = [];
    const cpuAtStart = processCpuMs(child.pid);
    for (let i = 0; i < n; i++) {
      const p = searchable[(i * 37) % searchable.length];
      const t = performance.now();
      const res = await fetch(`${origin}/fhir/Patient/$match`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Parameters',
          parameter: [
            { name: 'resource', resource: { resourceType: 'Patient', name: [{ family: p.name[0].family, given: [p.name[0].given?.[0] ?? ''] }], birthDate: p.birthDate } },
            { name: 'count', valueInteger: 20 },
          ],
        }),
      });
      await res.text();
      direct.push(performance.now() - t);
    }
    const cpu = (processCpuMs(child.pid) - cpuAtStart) / n;
    console.log(`the same Patient/$match requests without the browser, as ${who}: ${stats(direct)}; server CPU ${cpu.toFixed(1)} ms per request`);
    }

    // The practice's reminder/recall list as the clinic manager gets it: the first page on screen
    // after "Run reminder/recall", then "Download CSV" (the whole list, asked for once).
    const csvRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('_format=text%2Fcsv')) csvRequests.push(r.url());
    });
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.getByRole('heading', { level: 1, name: 'Reports' }).waitFor();
    const endOfMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
    await page.getByLabel('As of').fill(endOfMonth);
    const listStarted = performance.now();
    await page.getByRole('button', { name: 'Run reminder/recall' }).click();
    const listed = page.getByRole('table', { name: 'Reminder/recall list' }).or(page.getByText('Nobody is due or overdue')).or(page.getByRole('alert'));
    await listed.first().waitFor({ timeout: 300_000 });
    const listMs = performance.now() - listStarted;
    const summary = (await page.getByRole('status').filter({ hasText: /patients|Nobody/ }).first().textContent()) ?? '';
    console.log(`reminder/recall for ${organization} as of ${endOfMonth}: first page on screen ${listMs.toFixed(0)} ms after "Run reminder/recall" (${summary.trim()}); CSV requests while running: ${csvRequests.length}`);
    if (await page.getByRole('link', { name: 'Download CSV' }).count()) {
      const downloadStarted = performance.now();
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 600_000 }), page.getByRole('link', { name: 'Download CSV' }).click()]);
      const csv = readFileSync((await download.path()) as string, 'utf8');
      console.log(`  "Download CSV": file ready ${(performance.now() - downloadStarted).toFixed(0)} ms after the click (${csv.trim().split('\n').length - 1} rows); CSV requests: ${csvRequests.length}`);
    }
    await context.close();
  } finally {
    await browser.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}


/** User + system CPU time of a process so far (Linux /proc), in ms; 0 where unavailable. */
function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

function stats(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(0);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
