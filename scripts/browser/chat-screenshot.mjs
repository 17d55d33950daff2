// Plays a short conversation between three people on one `wsbench serve --transport all` and
// saves a screenshot of one of their pages (a laptop's 1440×900 window at 1.5× pixels): own and
// others' messages, Chinese text, latency per message, and the bytes each transport cost, with
// the page having used all three.
//
// usage: node chat-screenshot.mjs PAGE_URL OUT.png
// env:   CHROMIUM (default /usr/bin/chromium)

import { chromium } from 'playwright-core';

const [pageUrl, out] = process.argv.slice(2);
if (!pageUrl || !out) {
  console.error('usage: node chat-screenshot.mjs PAGE_URL OUT.png');
  process.exit(2);
}
setTimeout(() => {
  console.error('chat-screenshot: not done within 60 s');
  process.exit(1);
}, 60_000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: false,
  args: [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--hide-scrollbars',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE [::1]',
  ],
});

async function open(name, transport) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1.5 });
  const page = await context.newPage();
  const url = new URL(pageUrl);
  url.searchParams.set('name', name);
  url.searchParams.set('transport', transport);
  await page.goto(url.href);
  await connected(page, transport);
  return page;
}

function connected(page, transport) {
  return page.waitForFunction((t) => document.body.dataset.transport === t
    && document.body.dataset.status === 'connected', transport, { timeout: 10_000 });
}

async function switchTo(page, transport) {
  await page.locator('.switch label', { has: page.locator(`input[value="${transport}"]`) }).click();
  await connected(page, transport);
}

async function say(page, text) {
  const before = await page.locator('#messages li.msg').count();
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  // Each message has gone round before the next is typed, as in a conversation.
  await page.waitForFunction((n) => document.querySelectorAll('#messages li.msg').length > n,
    before, { timeout: 10_000 });
  await page.waitForTimeout(150);
}

try {
  const ming = await open('小明', 'longpoll');
  const alice = await open('Alice', 'ws');
  const zoe = await open('Zoë', 'sse');

  await say(ming, '大家好！这就是教程里的那个聊天室，不过这次能换传输方式。');
  await say(alice, 'Hi 小明! WebSocket here: one connection, one small frame per message.');
  await say(zoe, 'SSE here. One hub behind all three, so we all see the same order.');
  await switchTo(ming, 'sse');
  await say(ming, '换成 SSE 了：一个不断开的响应，一条消息一个事件。');
  await switchTo(ming, 'ws');
  await say(ming, '现在是 WebSocket，每条消息只多 2 个字节的帧头。');
  await say(alice, 'Compare what each message cost on the right →');
  await say(zoe, 'Latency too: yours is an exact round trip; ours is ≈, by our clocks.');
  await ming.locator('#input').fill('');
  await ming.locator('#input').blur();
  await ming.screenshot({ path: out });
  console.log(out);
} finally {
  await browser.close();
}
