// The live page of `wsbench run --live` in a real browser: starts headless Chromium, then the
// run (the command line after `--`), opens the page at the URL the run prints on stderr, and
// waits for the run's end on the page. Every chart must have a line with several seconds for
// every transport, the page must log no error and ask for nothing off loopback. Prints the
// page's final figures as one JSON line (`finals: {...}`, transport → column → text) for the
// caller to compare with summary.csv.
//
// usage: node live-test.mjs -- WSBENCH run SCENARIO --live ...
// env:   CHROMIUM (default /usr/bin/chromium); SCREENSHOT=FILE.png also saves the whole page
// Exits 1 with the reasons on stderr if anything is wrong.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const dash = process.argv.indexOf('--');
const command = dash < 0 ? [] : process.argv.slice(dash + 1);
if (command.length === 0) {
  console.error('usage: node live-test.mjs -- WSBENCH run SCENARIO --live ...');
  process.exit(2);
}
/** The whole test, browser start and the run included, must end within this. */
const DEADLINE_MS = 90_000;
let run;
setTimeout(() => {
  console.error(`live-test: not done within ${DEADLINE_MS / 1000} s`);
  run?.kill();
  process.exit(1);
}, DEADLINE_MS).unref();

const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
const loopback = (url) => {
  const { protocol, hostname } = new URL(url);
  return ['data:', 'blob:', 'about:'].includes(protocol)
    || ['127.0.0.1', 'localhost', '[::1]'].includes(hostname) || hostname.startsWith('127.');
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: false,
  args: [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE [::1]',
  ],
});

try {
  run = spawn(command[0], command.slice(1), { stdio: ['ignore', 'inherit', 'pipe'] });
  const exited = new Promise((resolve) => run.on('exit', (code) => resolve(code)));
  const stderr = [];
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: run.stderr });
    lines.on('line', (line) => {
      stderr.push(line);
      const m = line.match(/^live: (http:\/\/\S+)$/);
      if (m) resolve(m[1]);
    });
    run.on('exit', () => reject(new Error(`the run ended before printing its URL:\n${stderr.join('\n')}`)));
  });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!loopback(r.url())) errors.push(`off-machine request: ${r.url()}`); });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.done === 'true', null, { timeout: 60_000 });
  const code = await exited;
  check(code === 0, `the run exited with ${code}:\n${stderr.join('\n')}`);

  const finals = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#finals tbody tr')].map((tr) => [tr.dataset.transport,
      Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map((td) => [td.dataset.field, td.textContent]))])));
  const transports = Object.keys(finals);
  check(transports.length > 0, 'no final figures on the page');
  const charts = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('[id^="chart-"]')].map((c) => [c.id,
      [...c.querySelectorAll('polyline.series')].map((l) => [l.dataset.transport, Number(l.dataset.points)])])));
  check(Object.keys(charts).length === 5, `charts: ${Object.keys(charts)}`);
  for (const [id, lines] of Object.entries(charts)) {
    for (const t of transports) {
      const most = Math.max(0, ...lines.filter(([label]) => label === t).map(([, n]) => n));
      check(most >= 2, `${id}: ${t} has ${most} points`);
    }
  }
  for (const e of errors) failures.push(e);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(`charts: ${JSON.stringify(charts)}`);
  console.log(`finals: ${JSON.stringify(finals)}`);
} finally {
  run?.kill();
  await browser.close();
}

if (failures.length > 0) {
  console.error(`live-test failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('live-test: ok');
