// Breakwater dashboard: reads the admin API's server-sent events with fetch (so the admin token
// travels in an Authorization header, never in a URL), reconnects by itself, and updates the
// page in place so keyboard focus stays where it is. Data is written with textContent only.
const TOKEN_KEY = 'breakwater.adminToken';
const HISTORY = 300; // one sample a second: 5 minutes
const STATE_WORDS = {
  closed: 'closed',
  'half-open': 'half-open: on trial',
  ejected: 'ejected',
  down: 'down: health check',
  drained: 'drained',
};

const $ = (id) => document.getElementById(id);
const rows = new Map(); // "upstream\u0000index" → { cells, history }
let reloadable = false;

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

function status(text) {
  $('connection').textContent = text;
}

function notice(text) {
  $('notice').textContent = text;
}

async function connect(attempt = 0) {
  let response;
  try {
    response = await fetch('/api/events', { headers: headers(), cache: 'no-store' });
  } catch {
    return retry(attempt);
  }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    status('Signed out');
    $('login').hidden = false;
    $('history').hidden = true;
    $('upstreams').replaceChildren();
    rows.clear();
    $('token').focus();
    return;
  }
  if (!response.ok || response.body === null) return retry(attempt);
  $('login').hidden = true;
  $('history').hidden = false;
  status('Live');
  try {
    await read(response.body);
  } catch {
    // The stream broke (proxy restarted, network): fall through to reconnect.
  }
  return retry(0);
}

function retry(attempt) {
  const seconds = Math.min(1 + attempt, 5);
  status(`Disconnected — reconnecting in ${seconds} s`);
  setTimeout(() => connect(attempt + 1), seconds * 1000);
}

/** Parses the text/event-stream framing: `event:` and `data:` lines, a blank line ends one. */
async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data !== '') handle(event, JSON.parse(data));
      end = buffer.indexOf('\n\n');
    }
  }
}

function handle(event, data) {
  if (event === 'view') renderView(data);
  else if (event === 'timeline') addTimeline(data);
}

function renderView(view) {
  reloadable = view.reloadable;
  $('reload').hidden = !reloadable;
  const seen = new Set();
  for (const upstream of view.upstreams) {
    const tbody = upstreamTable(upstream.name);
    for (const target of upstream.targets) {
      const key = `${upstream.name}\u0000${target.index}`;
      seen.add(key);
      let row = rows.get(key);
      if (row === undefined) {
        row = createRow(upstream.name, target, tbody);
        rows.set(key, row);
      }
      updateRow(row, target, view.full === true);
    }
  }
  for (const [key, row] of rows) {
    if (seen.has(key)) continue;
    row.tr.remove();
    rows.delete(key);
  }
  for (const section of [...$('upstreams').children]) {
    if (!view.upstreams.some((u) => u.name === section.dataset.upstream)) section.remove();
  }
}

function upstreamTable(name) {
  for (const section of $('upstreams').children) {
    if (section.dataset.upstream === name) return section.querySelector('tbody');
  }
  const section = document.createElement('section');
  section.dataset.upstream = name;
  const title = document.createElement('h2');
  title.textContent = `Upstream ${name}`;
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  const columns = [
    'Target',
    'State',
    'Req/s',
    'Errors',
    'p50',
    'p99',
    'Last 5 min',
    'In flight',
    'Ejections',
    'Next trial',
    'Last trip',
    'Action',
  ];
  for (const column of columns) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = column;
    head.append(th);
  }
  section.append(title, table);
  $('upstreams').append(section);
  return table.createTBody();
}

function createRow(upstream, target, tbody) {
  const tr = tbody.insertRow();
  const cells = {};
  for (const name of [
    'url',
    'state',
    'rps',
    'errors',
    'p50',
    'p99',
    'spark',
    'inFlight',
    'ejections',
    'countdown',
    'reason',
    'action',
  ]) {
    cells[name] = tr.insertCell();
  }
  for (const name of ['rps', 'errors', 'p50', 'p99', 'inFlight', 'ejections', 'countdown']) {
    cells[name].className = 'num';
  }
  cells.reason.className = 'reason';
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = target.url;
  cells.url.replaceWith(th);
  cells.url = th;
  const badge = document.createElement('span');
  cells.state.append(badge);
  const button = document.createElement('button');
  button.type = 'button';
  button.addEventListener('click', () => toggleDrain(upstream, row));
  cells.action.append(button);
  const row = { tr, cells, badge, button, history: [], target, upstream };
  return row;
}

function updateRow(row, target, full) {
  row.target = target;
  const { cells } = row;
  row.tr.dataset.state = target.state;
  row.badge.className = `state ${target.state}`;
  row.badge.textContent = STATE_WORDS[target.state] ?? target.state;
  cells.rps.textContent = target.rps.toFixed(1);
  cells.errors.textContent =
    target.rps > 0 || target.errorPercent > 0 ? `${target.errorPercent.toFixed(1)} %` : '—';
  cells.p50.textContent = target.p50Ms === null ? '—' : `${formatMs(target.p50Ms)}`;
  cells.p99.textContent = target.p99Ms === null ? '—' : `${formatMs(target.p99Ms)}`;
  // With adaptive concurrency, in flight against the limit it is held to: "12 / 40".
  cells.inFlight.textContent =
    target.concurrencyLimit == null
      ? String(target.inFlight)
      : `${target.inFlight} / ${target.concurrencyLimit}`;
  // With several workers, each one's share on hover: how evenly the work spreads.
  const workers = Array.isArray(target.workers)
    ? target.workers.map(
        (worker) =>
          `worker ${worker.pid}: ${worker.rps.toFixed(1)} req/s, ${worker.inFlight} in flight, ${worker.breaker}`,
      )
    : [];
  cells.rps.title = workers.join('\n');
  cells.inFlight.title = [
    target.concurrencyLimit == null ? '' : 'in flight / adaptive concurrency limit (all workers)',
    ...workers,
  ]
    .filter((line) => line !== '')
    .join('\n');
  cells.ejections.textContent = String(target.ejections);
  cells.countdown.textContent =
    target.retryAfterMs > 0 ? `in ${Math.ceil(target.retryAfterMs / 1000)} s` : '—';
  cells.countdown.dataset.until = String(
    target.retryAfterMs > 0 ? Date.now() + target.retryAfterMs : 0,
  );
  cells.reason.textContent = target.reason ?? '—';
  row.button.textContent = target.drained ? 'Enable' : 'Drain';
  row.button.setAttribute('aria-label', `${target.drained ? 'Enable' : 'Drain'} ${target.url}`);
  if (full && Array.isArray(target.history)) row.history = target.history.slice(-HISTORY);
  else {
    row.history.push(target.rps);
    if (row.history.length > HISTORY) row.history.shift();
  }
  cells.spark.replaceChildren(sparkline(row.history, target.url));
}

function formatMs(ms) {
  return ms >= 1000
    ? `${(ms / 1000).toFixed(2)} s`
    : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

function sparkline(values, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 120;
  const height = 24;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...values);
  const peak = values.length ? Math.max(...values) : 0;
  svg.setAttribute(
    'aria-label',
    `${label}: requests per second over the last ${values.length} s, peak ${peak.toFixed(1)}`,
  );
  // Right-aligned, one step per second; at least a minute wide so a young history is readable.
  const step = width / Math.max(values.length - 1, 59);
  const points = values.map(
    (v, i) => `${width - (values.length - 1 - i) * step},${height - 1 - (v / max) * (height - 2)}`,
  );
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'currentColor');
  svg.append(line);
  return svg;
}

function addTimeline(entry) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.dateTime = new Date(entry.at).toISOString();
  time.textContent = new Date(entry.at).toLocaleTimeString();
  const text = document.createElement('span');
  text.textContent = entry.text;
  li.dataset.kind = entry.kind;
  li.append(time, text);
  const list = $('timeline');
  list.prepend(li);
  while (list.children.length > 100) list.lastElementChild.remove();
}

async function post(path) {
  const response = await fetch(path, { method: 'POST', headers: headers() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

async function toggleDrain(upstream, row) {
  const action = row.target.drained ? 'enable' : 'drain';
  row.button.disabled = true;
  try {
    await post(
      `/api/upstreams/${encodeURIComponent(upstream)}/targets/${row.target.index}/${action}`,
    );
    notice(`${action === 'drain' ? 'Drained' : 'Enabled'} ${row.target.url}`);
  } catch (error) {
    notice(`Could not ${action} ${row.target.url}: ${error.message}`);
  } finally {
    row.button.disabled = false;
  }
}

$('reload').addEventListener('click', async () => {
  $('reload').disabled = true;
  try {
    const result = await post('/api/reload');
    notice(`Reloaded: ${result.status ?? 'done'}`);
  } catch (error) {
    notice(`Reload refused: ${error.message}`);
  } finally {
    $('reload').disabled = false;
  }
});

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  $('token').value = '';
  connect();
});

// Countdowns tick between server updates.
setInterval(() => {
  for (const { cells } of rows.values()) {
    const until = Number(cells.countdown.dataset.until);
    if (until > 0)
      cells.countdown.textContent = `in ${Math.max(0, Math.ceil((until - Date.now()) / 1000))} s`;
  }
}, 1000);

connect();
