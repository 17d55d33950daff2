// The wsbench chat page: the tutorial's chat room (type a message, everyone sees it) over the
// transport the reader picks, against `wsbench serve --transport all` on this page's own origin.
//
// What it shows beside each message: the transport that delivered it and its push latency. A
// message this page sent carries this page's send time, so its latency is the exact round trip
// through the server on one clock; another page's time comes from that page's clock (≈).
// Beside the list: per transport, the messages received and the bytes the browser lets a page
// see — WebSocket frames (sizes computed from each message, as RFC 6455 frames them: the server
// negotiates no compression), and Resource Timing's transfer sizes for HTTP.
//
// Wire formats (README, "Protocols"): a chat message is JSON text,
//   {"chat":1,"from":"<page id>","n":<page's counter>,"name":"…","t":<send time, ms since epoch>,"text":"…"}
// Anything else on the hub is shown as it is, except wsbench's load-generator messages
// (`~wsb:…~`), which are only counted. Long-poll bodies are netstrings; SSE is read with fetch
// rather than EventSource, because EventSource can send neither the token nor show its bytes as
// they arrive. With `?token=T` in the page's URL the page sends `Authorization: Bearer T` on
// HTTP and offers the subprotocol `wsbench.bearer.<hex of T>` on WebSocket (a browser cannot set
// headers there). Every loop here is bounded: reconnect attempts, queued publishes, list rows.

const TRANSPORTS = { ws: 'WebSocket', longpoll: 'Long-poll', sse: 'SSE' };
/** Rows kept in the list; older ones leave, so a long session keeps a small page. */
const MAX_ROWS = 500;
/** Messages waiting to be published over HTTP (one POST in flight keeps this page's order). */
const MAX_QUEUE = 100;
/** Consecutive failed connection attempts before the page stops and offers a button. */
const MAX_ATTEMPTS = 20;
/** Own round trips kept per transport for the median. */
const RTT_SAMPLES = 200;
/** A long-poll answered empty faster than this waits before polling again (a server with no hold). */
const MIN_EMPTY_POLL_MS = 250;

const params = new URLSearchParams(location.search);
const token = params.get('token');
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const pageId = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) =>
  b.toString(16).padStart(2, '0')).join('');

const $ = (id) => document.getElementById(id);
const list = $('messages');
const input = $('input');
const nameInput = $('name');
const sendButton = $('send');

let transport = TRANSPORTS[params.get('transport')] ? params.get('transport') : 'ws';
let sent = 0;
let loadMessages = 0;

/**
 * Per transport: messages received; bytes pushed (WebSocket frames in, poll responses, the event
 * stream); bytes sent (frames out, POST bodies); bytes of the answers to POST /publish; own
 * round trips (ms).
 */
const stats = Object.fromEntries(Object.keys(TRANSPORTS).map((t) =>
  [t, { messages: 0, push: 0, sent: 0, answers: 0, rtt: [] }]));

// ---- connection management: one connection at a time, reconnecting with bounded backoff ----

/** Bumped on every (re)connect and switch, so callbacks of an old connection do nothing. */
let generation = 0;
let current = null;
let attempts = 0;
let retryTimer = 0;
/** Where long-poll and SSE resume after a reconnect; cleared when the reader switches transports. */
let resume = { cursor: null, lastEventId: null };

function connect() {
  clearTimeout(retryTimer);
  const gen = ++generation;
  const live = () => gen === generation;
  const via = transport;
  setStatus('connecting', `connecting over ${TRANSPORTS[via]}…`);
  const events = {
    opened() {
      if (!live()) return;
      attempts = 0;
      setStatus('connected', `connected over ${TRANSPORTS[via]}`);
    },
    message(data) {
      if (live()) receive(data, via);
    },
    notice(text) {
      if (live()) addNotice(text);
    },
    lost(why) {
      if (!live()) return;
      current = null;
      retry(why);
    },
  };
  current = OPEN[via](events, resume);
  $('endpoint').textContent = current.endpoint;
}

function disconnect() {
  generation++;
  clearTimeout(retryTimer);
  if (current) current.close();
  current = null;
}

function retry(why) {
  attempts += 1;
  if (attempts > MAX_ATTEMPTS) {
    setStatus('disconnected', `disconnected: ${why}`);
    $('reconnect').hidden = false;
    return;
  }
  const delay = Math.min(250 * 2 ** (attempts - 1), 8000);
  setStatus('reconnecting', `${why} — retrying in ${(delay / 1000).toFixed(1)} s`);
  retryTimer = setTimeout(connect, delay);
}

function switchTo(next) {
  if (next === transport && current) return;
  const before = transport;
  disconnect();
  transport = next;
  resume = { cursor: null, lastEventId: null };
  params.set('transport', next);
  history.replaceState(null, '', `?${params}`);
  document.body.dataset.transport = next;
  if (before !== next) addNotice(`switched to ${TRANSPORTS[next]}`);
  attempts = 0;
  connect();
}

// ---- the transports ----

function authHeaders(extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** A GET that fails on any status but 200, so every caller has one error path. */
async function get(path, signal, headers = {}) {
  const res = await fetch(path, { headers: authHeaders(headers), signal, cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status} on ${path}`);
  return res;
}

function reason(error) {
  return error instanceof TypeError ? 'the server is unreachable' : error.message;
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** RFC 6455 frame size of a message of `n` bytes: header, mask key (client to server) and payload. */
function frameBytes(n, masked) {
  const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
  return header + (masked ? 4 : 0) + n;
}

const OPEN = {
  ws(events) {
    const url = new URL('/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const hex = token ? Array.from(encoder.encode(token), (b) =>
      b.toString(16).padStart(2, '0')).join('') : null;
    const socket = new WebSocket(url, hex ? [`wsbench.bearer.${hex}`] : []);
    socket.binaryType = 'arraybuffer';
    let closing = false;
    // The extensions the server agreed (permessage-deflate: every browser offers it). With it,
    // the frame sizes counted below are the uncompressed ones: a page cannot see the compressed.
    socket.onopen = () => {
      document.body.dataset.wsExtensions = socket.extensions;
      events.opened();
    };
    socket.onmessage = (e) => {
      const n = typeof e.data === 'string' ? encoder.encode(e.data).length : e.data.byteLength;
      stats.ws.push += frameBytes(n, false);
      events.message(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
    };
    // `error` is always followed by `close`, which carries the reason.
    socket.onclose = (e) => {
      if (!closing) events.lost(e.reason ? `closed: ${e.reason}` : `connection closed (${e.code})`);
    };
    return {
      endpoint: `${url.href} · messages both ways`,
      send(text) {
        if (socket.readyState !== WebSocket.OPEN) return false;
        socket.send(text);
        stats.ws.sent += frameBytes(encoder.encode(text).length, true);
        render();
        return true;
      },
      close() {
        closing = true;
        // Closing while the handshake is under way makes the browser log an error: wait for it.
        if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close(1000);
        else socket.close(1000, 'switching transport');
      },
    };
  },

  longpoll(events, at) {
    const abort = new AbortController();
    (async () => {
      try {
        if (at.cursor === null) {
          const joined = await get('/poll', abort.signal);
          await joined.arrayBuffer();
          at.cursor = joined.headers.get('x-next-cursor');
        }
        events.opened();
        // One request per round; the page's life and `abort` end it.
        while (!abort.signal.aborted) {
          const asked = performance.now();
          const res = await get(`/poll?cursor=${at.cursor}`, abort.signal);
          const body = new Uint8Array(await res.arrayBuffer());
          const missed = Number(res.headers.get('x-missed') || 0);
          if (missed > 0) events.notice(`${missed} messages were overwritten before this page read them`);
          if (res.headers.get('x-reset')) events.notice('the server restarted: reading its stream from the start');
          const messages = netstrings(body);
          for (const m of messages) events.message(m);
          at.cursor = res.headers.get('x-next-cursor');
          if (messages.length === 0 && performance.now() - asked < MIN_EMPTY_POLL_MS) {
            await sleep(MIN_EMPTY_POLL_MS);
          }
        }
      } catch (error) {
        if (!abort.signal.aborted) events.lost(reason(error));
      }
    })();
    return {
      endpoint: 'GET /poll?cursor=N (held until news) · POST /publish',
      send: (text) => publish(text, 'longpoll'),
      close: () => abort.abort(),
    };
  },

  sse(events, at) {
    const abort = new AbortController();
    (async () => {
      try {
        const resumeFrom = at.lastEventId === null ? {} : { 'Last-Event-ID': at.lastEventId };
        const res = await get('/events', abort.signal, resumeFrom);
        events.opened();
        const parser = eventStream({
          event(data, id) {
            if (id !== null) at.lastEventId = id;
            events.message(data);
          },
          missed: (k) => events.notice(`${k} messages were overwritten before this page read them`),
        });
        const reader = res.body.getReader();
        // Until the server ends the stream (or `abort`): each read is one chunk of events.
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          stats.sse.push += value.byteLength;
          parser.feed(value);
        }
        if (!abort.signal.aborted) events.lost('the server ended the event stream');
      } catch (error) {
        if (!abort.signal.aborted) events.lost(reason(error));
      }
    })();
    return {
      endpoint: 'GET /events (one event per message) · POST /publish',
      send: (text) => publish(text, 'sse'),
      close: () => abort.abort(),
    };
  },
};

/** The messages of a long-poll body: netstrings, `<len>:<bytes>,` each, lengths in bytes. */
function netstrings(body) {
  const out = [];
  let at = 0;
  while (at < body.length) {
    const colon = body.indexOf(0x3a, at);
    if (colon <= at || colon - at > 20) throw new Error('malformed poll body');
    const len = Number(new TextDecoder().decode(body.subarray(at, colon)));
    const end = colon + 1 + len;
    if (!Number.isInteger(len) || body[end] !== 0x2c) throw new Error('malformed poll body');
    out.push(body.subarray(colon + 1, end));
    at = end + 1;
  }
  return out;
}

/** An incremental `text/event-stream` reader: `id:` and `data:` fields, `: missed K` comments. */
function eventStream(on) {
  const decoder = new TextDecoder();
  let buffer = '';
  let data = null;
  let id = null;
  function line(text) {
    if (text === '') {
      if (data !== null) on.event(data, id);
      data = null;
      return;
    }
    if (text.startsWith(':')) {
      const missed = /^:\s*missed (\d+)/.exec(text);
      if (missed) on.missed(Number(missed[1]));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === null ? value : `${data}\n${value}`;
    else if (field === 'id') id = value;
  }
  return {
    feed(bytes) {
      buffer += decoder.decode(bytes, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const l of lines) line(l);
    },
  };
}

// ---- publishing over HTTP: one POST at a time, so this page's messages keep their order ----

const queue = [];
let publishing = false;

function publish(text, via) {
  if (queue.length >= MAX_QUEUE) return false;
  queue.push({ text, via });
  if (!publishing) drain();
  return true;
}

async function drain() {
  publishing = true;
  // At most MAX_QUEUE messages are waiting; each is tried once.
  while (queue.length > 0) {
    const { text, via } = queue[0];
    try {
      const res = await fetch(`/publish?via=${via}`, {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'text/plain;charset=utf-8' }),
        body: text,
        cache: 'no-store',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      stats[via].sent += encoder.encode(text).length;
      render();
    } catch (error) {
      addNotice(`not sent (${reason(error)}): ${JSON.parse(text).text}`);
    }
    queue.shift();
  }
  publishing = false;
}

// ---- HTTP bytes, as Resource Timing reports them ----

function account(entry) {
  const url = new URL(entry.name);
  if (url.origin !== location.origin || entry.transferSize === 0) return;
  if (url.pathname === '/poll') {
    stats.longpoll.push += entry.transferSize;
  } else if (url.pathname === '/events') {
    // The body was counted as it arrived; the entry, written when the stream ends, adds its head.
    stats.sse.push += entry.transferSize - entry.encodedBodySize;
  } else if (url.pathname === '/publish' && stats[url.searchParams.get('via')]) {
    stats[url.searchParams.get('via')].answers += entry.transferSize;
  } else {
    return;
  }
  render();
}

new PerformanceObserver((entries) => entries.getEntries().forEach(account))
  .observe({ type: 'resource', buffered: true });
// The observer sees every entry; the buffer only keeps `getEntries()` for others, so empty it
// rather than let a long-polling page fill it.
performance.addEventListener('resourcetimingbufferfull', () => performance.clearResourceTimings());

// ---- receiving and showing ----

function receive(data, via) {
  stats[via].messages += 1;
  let text;
  if (typeof data === 'string') {
    text = data;
  } else {
    try {
      text = strictDecoder.decode(data);
    } catch {
      addRow({ kind: 'other', name: 'binary message', text: `${data.length} bytes`, via });
      render();
      return;
    }
  }
  if (text.includes('~wsb:')) {
    loadMessages += 1;
    const note = $('foreign');
    note.hidden = false;
    note.textContent = `${loadMessages.toLocaleString('en')} load-generator messages (a wsbench run on this server) were counted, not listed.`;
    render();
    return;
  }
  const chat = parseChat(text);
  if (chat) {
    const mine = chat.from === pageId;
    const latency = performance.timeOrigin + performance.now() - chat.t;
    if (mine) {
      const rtt = stats[via].rtt;
      rtt.push(latency);
      if (rtt.length > RTT_SAMPLES) rtt.shift();
    }
    addRow({ kind: mine ? 'mine' : 'theirs', ...chat, latency, via });
  } else {
    addRow({ kind: 'other', name: 'another client', text, via });
  }
  render();
}

function parseChat(text) {
  if (!text.startsWith('{')) return null;
  try {
    const m = JSON.parse(text);
    const ok = m && m.chat === 1 && typeof m.from === 'string' && typeof m.text === 'string'
      && Number.isFinite(m.t) && Number.isInteger(m.n);
    return ok ? { from: m.from, n: m.n, name: String(m.name || 'anonymous'), t: m.t, text: m.text } : null;
  } catch {
    return null;
  }
}

function hue(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function append(row) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(row);
  while (list.children.length > MAX_ROWS) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function addRow(m) {
  const row = el('li', `msg ${m.kind}`);
  if (m.from !== undefined) {
    row.dataset.from = m.from;
    row.dataset.n = m.n;
    row.style.setProperty('--hue', hue(m.from));
  }
  const bubble = el('div', 'bubble');
  bubble.append(el('span', 'who', m.kind === 'mine' ? `${m.name} (you)` : m.name), el('span', 'text', m.text));
  const facts = el('div', 'facts');
  facts.append(el('time', 'time', new Date().toLocaleTimeString('en-GB')));
  facts.append(el('span', `via via-${m.via}`, TRANSPORTS[m.via]));
  if (m.latency !== undefined) {
    const approx = m.kind === 'mine' ? '' : '≈ ';
    const latency = el('span', 'latency', `${approx}${formatMs(m.latency)}`);
    latency.title = m.kind === 'mine'
      ? 'round trip through the server, on this page\'s clock'
      : 'push latency from the sender\'s clock to this page\'s';
    facts.append(latency);
  }
  row.append(bubble, facts);
  append(row);
}

function addNotice(text) {
  append(el('li', 'notice', text));
}

function formatMs(ms) {
  if (ms < 0) return '< 0 ms (clocks differ)';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString('en')} ms`;
}

function formatBytes(n) {
  if (n < 10000) return `${n.toLocaleString('en')} B`;
  if (n < 1e6) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function render() {
  const cells = (k) => document.querySelectorAll(`#stats tr[data-k="${k}"] td`);
  Object.keys(TRANSPORTS).forEach((t, i) => {
    const s = stats[t];
    const used = s.messages > 0 || s.push > 0 || s.sent > 0;
    const rtt = median(s.rtt);
    const http = t !== 'ws';
    cells('messages')[i].textContent = used ? s.messages.toLocaleString('en') : '–';
    cells('push')[i].textContent = used ? formatBytes(s.push) : '–';
    cells('per')[i].textContent = s.messages > 0 ? `${Math.round(s.push / s.messages).toLocaleString('en')} B` : '–';
    cells('sent')[i].textContent = used ? formatBytes(s.sent) : '–';
    cells('answers')[i].textContent = used && http ? formatBytes(s.answers) : '–';
    cells('rtt')[i].textContent = rtt === null ? '–' : formatMs(rtt);
  });
  document.querySelectorAll('#stats [data-t]').forEach((th) => {
    th.classList.toggle('current', th.dataset.t === transport);
  });
}

function setStatus(status, text) {
  document.body.dataset.status = status;
  $('status-text').textContent = text;
  $('reconnect').hidden = status !== 'disconnected';
  sendButton.disabled = status !== 'connected';
}

// ---- the composer ----

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value;
  if (!text.trim() || !current) return;
  sent += 1;
  const message = JSON.stringify({
    chat: 1,
    from: pageId,
    n: sent,
    name: nameInput.value.trim() || 'anonymous',
    t: performance.timeOrigin + performance.now(),
    text,
  });
  if (current.send(message)) input.value = '';
  else addNotice('not sent: the connection is not open, or too many messages are waiting');
});

nameInput.value = params.get('name') || sessionStorage.getItem('wsbench-name') || `Guest ${pageId.slice(0, 4).toUpperCase()}`;
nameInput.addEventListener('change', () => sessionStorage.setItem('wsbench-name', nameInput.value));

document.querySelectorAll('input[name="transport"]').forEach((radio) => {
  radio.checked = radio.value === transport;
  radio.addEventListener('change', () => { if (radio.checked) switchTo(radio.value); });
});
$('reconnect').addEventListener('click', () => { attempts = 0; connect(); });

document.body.dataset.transport = transport;
render();
connect();
input.focus();
