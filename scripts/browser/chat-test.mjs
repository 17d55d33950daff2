// The chat page in a real browser: three people (three browser contexts, so three connection
// pools, as three machines would have) open the page of one `wsbench serve --transport all`,
// on WebSocket, long-poll and SSE; each sends, then each switches transport and sends again.
// Every page must show every message, in one and the same order (the hub's), each sender's in
// the order sent, with its text intact (Chinese, emoji, markup as text), delivered by the
// page's own transport; the byte counts must move; no page may log an error or ask for
// anything off loopback.
//
// Over https (a server given --tls-cert, a self-signed certificate: certificate errors are
// ignored), the page, its polls, its event stream and its WebSocket may all ride one HTTP/2
// connection per person; the caller counts the server's accepted connections.
//
// usage: node chat-test.mjs PAGE_URL        (the second line `wsbench serve --transport all` prints)
// env:   CHROMIUM (default /usr/bin/chromium)
// Prints a summary on stdout; exits 1 with the reasons on stderr if anything is wrong.

import { chromium } from 'playwright-core';

const pageUrl = process.argv[2];
if (!pageUrl) {
  console.error('usage: node chat-test.mjs PAGE_URL');
  process.exit(2);
}
/** The whole test, browser start included, must end within this (a hung page fails it). */
const DEADLINE_MS = 60_000;
const STEP_MS = 10_000;
setTimeout(() => {
  console.error(`chat-test: not done within ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS).unref();

const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
const loopback = (url) => {
  const { protocol, hostname } = new URL(url);
  return ['data:', 'blob:', 'about:'].includes(protocol)
    || ['127.0.0.1', 'localhost', '[::1]'].includes(hostname) || hostname.startsWith('127.');
};

const t0 = Date.now();
const lap = (what) => console.log(`  ${((Date.now() - t0) / 1000).toFixed(2)} s: ${what}`);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: false,
  args: [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    // Belt and braces beside the page's own Content-Security-Policy: no other name resolves.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE [::1]',
    ...(new URL(pageUrl).protocol === 'https:' ? ['--ignore-certificate-errors'] : []),
  ],
});

lap('browser started');

const people = [
  { name: 'Alice', first: 'ws', then: 'sse' },
  { name: '小明', first: 'longpoll', then: 'ws' },
  { name: 'Zoë', first: 'sse', then: 'longpoll' },
];

try {
  await Promise.all(people.map(async (p) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    p.page = await context.newPage();
    p.errors = [];
    p.page.on('console', (m) => { if (m.type() === 'error') p.errors.push(`console: ${m.text()}`); });
    p.page.on('pageerror', (e) => p.errors.push(`page error: ${e.message}`));
    p.page.on('request', (r) => { if (!loopback(r.url())) p.errors.push(`off-machine request: ${r.url()}`); });
    p.page.on('websocket', (ws) => { if (!loopback(ws.url())) p.errors.push(`off-machine WebSocket: ${ws.url()}`); });
    const url = new URL(pageUrl);
    url.searchParams.set('name', p.name);
    // The first transport comes from the URL; the switch is clicked for the second.
    url.searchParams.set('transport', p.first);
    await p.page.goto(url.href);
  }));
  lap('pages loaded');

  const transportOf = (p) => p.page.evaluate(() => document.body.dataset.transport);
  async function use(p, transport) {
    if (await transportOf(p) !== transport) {
      await p.page.locator('.switch label', { has: p.page.locator(`input[value="${transport}"]`) }).click();
    }
    await p.page.waitForFunction((t) => document.body.dataset.transport === t
      && document.body.dataset.status === 'connected', transport, { timeout: STEP_MS, polling: 50 });
  }

  const sent = [];
  async function round(label) {
    // Interleaved: each person sends in turn, twice.
    for (let i = 1; i <= 2; i += 1) {
      for (const p of people) {
        const text = {
          Alice: `${label} ${i}: hello from Alice — <b>not bold</b> & "quotes"`,
          小明: `${label} ${i}: 你好，世界！我在用${p.current}发消息。🌏`,
          Zoë: `${label} ${i}: Grüße, Zoë — ½ ∑ 日本語 ✓`,
        }[p.name];
        await p.page.fill('#input', text);
        await p.page.press('#input', 'Enter');
        sent.push({ who: p.name, text });
      }
    }
  }

  const rows = (p) => p.page.$$eval('#messages li.msg', (lis) => lis.map((li) => ({
    who: li.querySelector('.who').textContent.replace(/ \(you\)$/, ''),
    text: li.querySelector('.text').textContent,
    via: li.querySelector('.via').textContent,
    latency: li.querySelector('.latency')?.textContent ?? null,
    mine: li.classList.contains('mine'),
  })));
  const VIA = { ws: 'WebSocket', longpoll: 'Long-poll', sse: 'SSE' };

  for (const phase of ['first', 'then']) {
    for (const p of people) {
      p.current = p[phase];
      await use(p, p.current);
    }
    lap(`connected: ${people.map((p) => p.current).join(', ')}`);
    // The browser offered permessage-deflate and the built-in server agreed it.
    for (const p of people.filter((q) => q.current === 'ws')) {
      const agreed = await p.page.evaluate(() => document.body.dataset.wsExtensions ?? '');
      check(agreed.startsWith('permessage-deflate'), `${p.name}: WebSocket extensions "${agreed}"`);
    }
    const before = sent.length;
    await round(phase === 'first' ? 'round 1' : 'round 2');
    lap(`sent ${sent.length - before}`);
    for (const p of people) {
      await p.page.waitForFunction((n) => document.querySelectorAll('#messages li.msg').length >= n,
        sent.length, { timeout: STEP_MS, polling: 50 }).catch(() => {});
      const got = await rows(p);
      check(got.length === sent.length, `${p.name}: ${got.length} messages shown, ${sent.length} sent`);
      for (const r of got.slice(before)) {
        check(r.via === VIA[p.current], `${p.name}: "${r.text}" came by ${r.via}, not ${VIA[p.current]}`);
        check(/^(≈ )?\d[\d,.]* ms$/.test(r.latency ?? ''), `${p.name}: "${r.text}" shows latency "${r.latency}"`);
        check(r.mine === (r.who === p.name), `${p.name}: "${r.text}" from ${r.who} is marked mine=${r.mine}`);
      }
    }
    lap('every page has them');
  }

  // Every page shows the same sequence: the hub's order.
  const shown = await Promise.all(people.map(rows));
  const key = (r) => `${r.who}\u0000${r.text}`;
  for (let i = 1; i < people.length; i += 1) {
    check(JSON.stringify(shown[i].map(key)) === JSON.stringify(shown[0].map(key)),
      `${people[i].name} and ${people[0].name} show different sequences`);
  }
  // ...which is exactly what was sent, each sender's messages in the order sent, text intact.
  check(JSON.stringify(shown[0].map(key).sort()) === JSON.stringify(sent.map(key).sort()),
    `shown ≠ sent:\n  shown ${JSON.stringify(shown[0].map(key))}\n  sent  ${JSON.stringify(sent.map(key))}`);
  for (const p of people) {
    const order = (list) => list.filter((r) => r.who === p.name).map((r) => r.text);
    check(JSON.stringify(order(shown[0])) === JSON.stringify(order(sent)), `${p.name}'s messages out of order`);
  }

  // Bytes were counted for both transports each page used (frames, Resource Timing, SSE stream).
  const summary = [];
  for (const p of people) {
    const table = await p.page.$$eval('#stats tbody tr', (trs) => Object.fromEntries(trs.map((tr) =>
      [tr.dataset.k, [...tr.querySelectorAll('td')].map((td) => td.textContent)])));
    const col = { ws: 0, longpoll: 1, sse: 2 };
    for (const t of [p.first, p.then]) {
      const [push, up, answers] = [table.push[col[t]], table.sent[col[t]], table.answers[col[t]]];
      check(/^[1-9]/.test(push), `${p.name}: bytes pushed over ${t}: "${push}"`);
      check(/^[1-9]/.test(up), `${p.name}: bytes sent over ${t}: "${up}"`);
      check(t === 'ws' ? answers === '–' : /^[1-9]/.test(answers), `${p.name}: answers over ${t}: "${answers}"`);
      check(table.messages[col[t]] === String(sent.length / 2), `${p.name}: messages over ${t}: "${table.messages[col[t]]}"`);
    }
    summary.push(`${p.name} (${p.first} → ${p.then}): ${JSON.stringify(table)}`);
    for (const e of p.errors) failures.push(`${p.name}: ${e}`);
  }

  console.log(`chat-test: ${people.length} pages, ${sent.length} messages each, the same order on all`);
  for (const line of summary) console.log(`  ${line}`);
} catch (error) {
  failures.push(`${error.stack || error}`);
} finally {
  lap('checked');
  await browser.close();
  lap('browser closed');
}

if (failures.length > 0) {
  console.error(`chat-test: ${failures.length} failure(s):\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('chat-test: ok');
