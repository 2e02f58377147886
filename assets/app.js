// husky dashboard: one ES module, no dependencies, no build step. Every URL is relative to the
// page, so the dashboard works under api.base_path. Text goes into the DOM as text nodes only.

const TOKEN_KEY = 'husky.token';
const STATUSES = ['SUCCESS', 'FAILED', 'RUNNING', 'PENDING', 'RETRYING', 'CANCELLED', 'SKIPPED'];

const state = {
  config: { poll_interval_ms: 5000, auth: 'none' },
  view: null, // { name, refresh() , stop() }
  events: null, // the /ws/events socket
  live: false,
  poller: null,
  refreshTimer: null,
};

// ---------- DOM helpers ----------

/** Makes an element: attributes (`on*` are listeners, `class`, `text`), then children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

const $ = (sel) => document.querySelector(sel);
const cls = (status) => 's-' + String(status || 'none').toLowerCase();
const pill = (status) => h('span', { class: 'pill ' + cls(status), text: status || '—' });

function table(headers, rows, empty) {
  if (!rows.length) return h('div', { class: 'scroll' }, h('div', { class: 'empty', text: empty }));
  return h('div', { class: 'scroll' },
    h('table', {},
      h('thead', {}, h('tr', {}, headers.map(([t, c]) => h('th', { class: c, text: t })))),
      h('tbody', {}, rows)));
}

// ---------- formatting ----------

function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

function timeEl(iso) {
  return h('time', { datetime: iso || undefined, title: iso || undefined, text: fmtTime(iso) });
}

function relative(iso) {
  if (!iso) return '';
  const secs = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (Number.isNaN(secs)) return '';
  const a = Math.abs(secs);
  const text = a < 60 ? a + 's' : a < 3600 ? Math.round(a / 60) + 'm'
    : a < 86400 ? Math.round(a / 3600) + 'h' : Math.round(a / 86400) + 'd';
  return secs >= 0 ? 'in ' + text : text + ' ago';
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ' + Math.round(s % 60) + 's';
  return Math.floor(m / 60) + 'h ' + (m % 60) + 'm';
}

// ---------- toasts ----------

function toast(text, kind) {
  const el = h('div', { class: 'toast ' + (kind || ''), role: 'status', text });
  $('#toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

let asking = null; // the token dialog open now, shared by every request that got a 401

function askToken(why) {
  if (asking) return asking;
  const dialog = $('#login');
  $('#login-why').textContent = why;
  $('#login-token').value = '';
  asking = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const token = $('#login-token').value.trim();
      if (token) localStorage.setItem(TOKEN_KEY, token);
      asking = null;
      resolve(Boolean(token));
    }, { once: true });
  });
  if (typeof dialog.showModal === 'function') dialog.showModal();
  else dialog.setAttribute('open', '');
  return asking;
}

/** Calls the API at `path` (relative): `{ data, total }`; throws an ApiError with the body's `error`. */
async function api(path, opts = {}, retried = false) {
  const headers = { Accept: 'application/json' };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, { method: opts.method || 'GET', headers, body, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError('the daemon cannot be reached (' + e.message + ')', 0);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401 && !retried
      && (res.headers.get('WWW-Authenticate') || '').startsWith('Bearer')) {
    if (token) localStorage.removeItem(TOKEN_KEY);
    const why = token ? 'The token was refused; enter another.' : 'This daemon asks for a bearer token.';
    if (await askToken(why)) return api(path, opts, true);
  }
  if (!res.ok) {
    throw new ApiError((data && data.error) || res.status + ' ' + res.statusText, res.status);
  }
  const total = Number(res.headers.get('X-Total-Count'));
  return { data, total: Number.isFinite(total) ? total : null };
}

/** A WebSocket (or EventSource) URL of `path`, relative to the page, with the token. */
function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

/** Runs a POST action with a toast for its outcome; `button` is disabled meanwhile. */
async function act(button, path, done) {
  if (button) button.disabled = true;
  try {
    const { data } = await api(path, { method: 'POST', body: {} });
    if (data && data.ok === false) throw new ApiError(data.error || 'failed', 200);
    toast(describe(data) || 'done', 'ok');
    if (done) done(data);
  } catch (e) {
    toast(e.message, 'error');
  } finally {
    if (button) button.disabled = false;
  }
  scheduleRefresh(200);
}

function describe(data) {
  if (!data) return '';
  if (data.message) return data.message;
  if (Array.isArray(data.runs)) return data.runs.map((r) => `${r.job_name}: run ${r.run_id} ${r.status}`).join('; ');
  if (Array.isArray(data.cancelled)) return 'cancelled ' + (data.cancelled.join(', ') || 'nothing');
  return '';
}

// ---------- live updates: /ws/events, else polling ----------

function setLive(on) {
  state.live = on;
  const el = $('#live');
  el.classList.toggle('on', on);
  el.title = on ? 'live updates' : 'polling every ' + state.config.poll_interval_ms + ' ms';
  if (on) {
    clearInterval(state.poller);
    state.poller = null;
  } else if (!state.poller) {
    state.poller = setInterval(() => refreshView(), Math.max(1000, state.config.poll_interval_ms || 5000));
  }
}

function connectEvents() {
  if (!('WebSocket' in window)) return setLive(false);
  let ws;
  try { ws = new WebSocket(socketUrl('ws/events')); } catch { return setLive(false); }
  state.events = ws;
  ws.onopen = () => setLive(true);
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (state.view && state.view.onEvent) state.view.onEvent(ev);
    else scheduleRefresh(300);
  };
  ws.onclose = () => {
    state.events = null;
    setLive(false);
    setTimeout(connectEvents, Math.max(5000, state.config.poll_interval_ms || 5000));
  };
}

function scheduleRefresh(delay) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshView, delay);
}

function refreshView() {
  if (state.view && state.view.refresh && !document.hidden) state.view.refresh();
}

// ---------- header ----------

async function loadHeader() {
  try {
    const { data } = await api('api/config');
    if (!data) return;
    state.config = data;
    if (data.title) {
      document.title = data.title;
      $('#title').textContent = data.title;
    }
    if (data.accent_color) document.documentElement.style.setProperty('--accent', data.accent_color);
    $('#version').textContent = 'v' + data.version;
  } catch (e) {
    toast('cannot read the dashboard settings: ' + e.message, 'error');
  }
}

async function toggleInfo() {
  const panel = $('#info-panel');
  const button = $('#version');
  if (!panel.hidden) {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  panel.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  panel.hidden = false;
  button.setAttribute('aria-expanded', 'true');
  try {
    const [info, status] = await Promise.all([api('api/daemon/info'), api('api/status')]);
    const i = info.data, st = status.data;
    const rows = [
      ['version', i.version], ['pid', i.pid], ['started', fmtTime(i.started_at)],
      ['uptime', fmtDuration(i.uptime_s * 1000)], ['jobs', `${st.jobs} (${st.paused_jobs} paused, ${st.running_runs} running)`],
      ['store', st.store + (st.store_error ? ': ' + st.store_error : '')],
      ['config', st.config_path], ['database', st.db_path], ['API', st.api_url || '—'],
      ['WebSockets', `${i.websockets} / ${i.max_websockets}`], ['SSE streams', `${i.sse_streams} / ${i.max_sse_streams}`],
    ];
    panel.replaceChildren(h('dl', {}, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
    if (state.config.auth === 'bearer' && localStorage.getItem(TOKEN_KEY)) {
      panel.append(h('p', {}, h('button', {
        class: 'small', type: 'button', text: 'Forget token',
        onclick: () => { localStorage.removeItem(TOKEN_KEY); toast('token forgotten', 'ok'); },
      })));
    }
  } catch (e) {
    panel.replaceChildren(h('p', { text: e.message }));
  }
}

// ---------- views ----------

function errorBox(e) {
  return h('div', { class: 'card' }, h('strong', { text: 'Error: ' }), e.message);
}

/** Jobs: the table, a tag filter, actions, recent runs. */
function jobsView(root) {
  let tag = '';
  let search = '';
  const tagSelect = h('select', { 'aria-label': 'tag', onchange: () => { tag = tagSelect.value; draw(); } });
  const searchInput = h('input', { type: 'search', placeholder: 'filter jobs', 'aria-label': 'filter jobs',
    oninput: () => { search = searchInput.value.toLowerCase(); draw(); } });
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  root.replaceChildren(h('h1', { text: 'Jobs' }),
    h('div', { class: 'bar' }, h('label', {}, 'Tag ', tagSelect), searchInput), body);
  let jobs = [];
  let recent = new Map();

  function draw() {
    const shown = jobs.filter((j) => (!tag || (j.tags || []).includes(tag))
      && (!search || j.name.toLowerCase().includes(search) || (j.description || '').toLowerCase().includes(search)));
    const rows = shown.map((j) => {
      const last = j.last_run && j.last_run.status;
      const runs = recent.get(j.name) || [];
      const run = h('button', { class: 'small primary', type: 'button', text: 'Run',
        onclick: (e) => act(e.target, `api/jobs/${encodeURIComponent(j.name)}/run`) });
      const cancel = h('button', { class: 'small', type: 'button', text: 'Cancel', disabled: !j.runs.length,
        onclick: (e) => act(e.target, `api/jobs/${encodeURIComponent(j.name)}/cancel`) });
      const pause = h('button', { class: 'small', type: 'button', text: j.paused ? 'Resume' : 'Pause',
        onclick: (e) => act(e.target, `api/jobs/${encodeURIComponent(j.name)}/${j.paused ? 'resume' : 'pause'}`) });
      const retry = h('button', { class: 'small', type: 'button', text: 'Retry', disabled: last !== 'FAILED',
        onclick: (e) => act(e.target, `api/jobs/${encodeURIComponent(j.name)}/retry`) });
      return h('tr', { 'data-job': j.name },
        h('td', {}, h('a', { class: 'job-name', href: '#/runs?job=' + encodeURIComponent(j.name), text: j.name }),
          h('div', { class: 'desc', text: j.description })),
        h('td', {}, j.running ? pill('RUNNING') : last ? pill(last) : h('span', { class: 'muted', text: 'never run' }),
          j.paused ? [' ', h('span', { class: 'pill s-paused', text: 'paused' })] : null,
          j.skip_next ? [' ', h('span', { class: 'pill', text: 'skip next' })] : null),
        h('td', {}, j.next_run ? [timeEl(j.next_run), h('div', { class: 'desc', text: relative(j.next_run) })]
          : h('span', { class: 'muted', text: j.frequency })),
        h('td', {}, h('div', { class: 'pills' }, runs.map((r) => h('a', {
          class: cls(r.status), href: '#/runs/' + r.id, title: `run ${r.id}: ${r.status} ${fmtTime(r.created_at)}`,
          'aria-label': `run ${r.id} ${r.status}` })))),
        h('td', { class: 'hide-sm' }, (j.tags || []).map((t) => h('span', { class: 'tag', text: t }))),
        h('td', { class: 'hide-sm', text: j.timezone || '' }),
        h('td', { class: 'actions' }, run, cancel, pause, retry));
    });
    body.replaceChildren(table([['Job'], ['Status'], ['Next run'], ['Recent runs'], ['Tags', 'hide-sm'],
      ['Time zone', 'hide-sm'], ['Actions']], rows, jobs.length ? 'No job matches.' : 'No jobs configured.'));
  }

  async function refresh() {
    try {
      const [j, r] = await Promise.all([api('api/jobs'), api('api/runs?page_size=200')]);
      jobs = j.data || [];
      recent = new Map();
      for (const run of r.data || []) {
        const list = recent.get(run.job_name) || [];
        if (list.length < 8) list.push(run);
        recent.set(run.job_name, list);
      }
      for (const list of recent.values()) list.reverse();
      const tags = [...new Set(jobs.flatMap((x) => x.tags || []))].sort();
      tagSelect.replaceChildren(h('option', { value: '', text: 'all' }),
        tags.map((t) => h('option', { value: t, text: t, selected: t === tag })));
      if (tag && !tags.includes(tag)) tag = '';
      draw();
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  return { refresh };
}

/** Runs (the audit trail): filters and pages. */
function runsView(root, params) {
  const f = { job: params.get('job') || '', status: params.get('status') || '', tag: params.get('tag') || '',
    since: params.get('since') || '', cycle_id: params.get('cycle_id') || '', page: Number(params.get('page')) || 1 };
  const size = 50;
  const input = (name, attrs) => h('input', { ...attrs, value: f[name], 'aria-label': name,
    onchange: (e) => { f[name] = e.target.value; f.page = 1; refresh(); } });
  const status = h('select', { 'aria-label': 'status', onchange: (e) => { f.status = e.target.value; f.page = 1; refresh(); } },
    h('option', { value: '', text: 'any status' }), STATUSES.map((x) => h('option', { value: x, text: x, selected: x === f.status })));
  const since = h('input', { type: 'datetime-local', 'aria-label': 'since',
    onchange: (e) => { f.since = e.target.value ? new Date(e.target.value).toISOString() : ''; f.page = 1; refresh(); } });
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  root.replaceChildren(h('h1', { text: 'Runs' }),
    h('div', { class: 'bar' }, input('job', { placeholder: 'job' }), status, input('tag', { placeholder: 'tag selector' }),
      h('label', {}, 'since ', since)), body);

  async function refresh() {
    const q = new URLSearchParams({ page: f.page, page_size: size });
    for (const k of ['job', 'status', 'tag', 'since', 'cycle_id']) if (f[k]) q.set(k, f[k]);
    try {
      const { data, total } = await api('api/runs?' + q);
      const rows = (data || []).map((r) => h('tr', {},
        h('td', {}, h('a', { href: '#/runs/' + r.id, text: '#' + r.id })),
        h('td', {}, h('a', { href: '#/runs?job=' + encodeURIComponent(r.job_name), text: r.job_name })),
        h('td', {}, pill(r.status), r.sla_breached ? [' ', h('span', { class: 'pill s-failed', text: 'SLA' })] : null),
        h('td', { class: 'hide-sm', text: r.attempt }),
        h('td', { class: 'hide-sm', text: r.trigger + (r.triggered_by ? ' by ' + r.triggered_by : '') }),
        h('td', { class: 'hide-sm', text: r.reason || '' }),
        h('td', {}, timeEl(r.started_at || r.created_at)),
        h('td', { text: fmtDuration(r.duration_ms) }),
        h('td', { class: 'hide-sm', text: r.exit_code ?? '' })));
      const pages = Math.max(1, Math.ceil((total || 0) / size));
      const go = (p) => { f.page = p; refresh(); };
      body.replaceChildren(
        table([['Run'], ['Job'], ['Status'], ['Attempt', 'hide-sm'], ['Trigger', 'hide-sm'], ['Reason', 'hide-sm'],
          ['Started'], ['Duration'], ['Exit', 'hide-sm']], rows, 'No run matches.'),
        h('div', { class: 'pager' },
          h('button', { type: 'button', class: 'small', text: '‹ Newer', disabled: f.page <= 1, onclick: () => go(f.page - 1) }),
          h('span', { class: 'muted', text: `page ${f.page} of ${pages} · ${total || 0} runs` }),
          h('button', { type: 'button', class: 'small', text: 'Older ›', disabled: f.page >= pages, onclick: () => go(f.page + 1) })));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  return { refresh };
}

/** One run: its fields, outputs, actions and live log. */
function runView(root, id) {
  const head = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  const outputs = h('div', {});
  const follow = h('input', { type: 'checkbox', checked: true });
  const hc = h('input', { type: 'checkbox', onchange: () => log.classList.toggle('no-hc', !hc.checked) });
  const note = h('span', { class: 'muted' });
  const log = h('pre', { class: 'log no-hc', 'aria-label': 'log' });
  root.replaceChildren(head, outputs,
    h('h2', { text: 'Log' }),
    h('div', { class: 'bar' }, h('label', {}, follow, 'auto-scroll'), h('label', {}, hc, 'healthcheck lines'),
      h('span', { class: 'spacer' }), note,
      h('button', { type: 'button', class: 'small', text: 'Copy', onclick: () => navigator.clipboard
        .writeText(log.innerText).then(() => toast('log copied', 'ok'), () => toast('cannot copy', 'error')) })),
    log);
  let socket = null;
  let lastSeq = 0;

  function line(l) {
    if (l.seq <= lastSeq) return;
    if (lastSeq === 0 && l.seq > 1 && !log.firstChild) {
      note.replaceChildren(`lines before ${l.seq} not shown · `,
        h('a', { href: '#', text: 'load all', onclick: (e) => { e.preventDefault(); openLog(0); } }));
    }
    lastSeq = l.seq;
    const stick = follow.checked;
    log.append(h('span', { class: 'l l-' + l.stream, 'data-seq': l.seq },
      h('span', { class: 'ts', text: (l.ts || '').slice(11, 19) }), l.line, '\n'));
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function openLog(fromSeq) {
    if (socket) { socket.onclose = null; socket.close(); }
    if (fromSeq !== undefined) { log.replaceChildren(); lastSeq = 0; note.replaceChildren(); }
    const q = new URLSearchParams({ include_healthcheck: 'true' });
    if (fromSeq !== undefined) q.set('from_seq', fromSeq);
    let ended = false;
    try {
      socket = new WebSocket(socketUrl(`ws/logs/${id}?${q}`));
    } catch {
      return historic();
    }
    socket.onmessage = (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch { return; }
      if (f.type === 'line') line(f);
      else if (f.type === 'end') { ended = true; note.append(` run ended: ${f.status || ''}`); refresh(); }
      else if (f.type === 'error') { toast(f.message, 'error'); if (f.from_seq !== undefined) lastSeq = f.from_seq; }
    };
    socket.onclose = () => { socket = null; if (!ended && !log.firstChild) historic(); };
  }

  /** Without a WebSocket: the stored lines. */
  async function historic() {
    try {
      const { data } = await api(`api/runs/${id}/logs?include_healthcheck=true&limit=1000`);
      for (const l of data || []) line(l);
    } catch (e) {
      note.textContent = e.message;
    }
  }

  async function refresh() {
    try {
      const [{ data: r }, { data: outs }] = await Promise.all([api(`api/runs/${id}`), api(`api/runs/${id}/outputs`)]);
      const job = encodeURIComponent(r.job_name);
      const actions = [];
      if (['RUNNING', 'PENDING', 'RETRYING'].includes(r.status)) {
        actions.push(h('button', { type: 'button', text: 'Cancel', onclick: (e) => act(e.target, `api/runs/${id}/cancel`) }));
      }
      if (r.status === 'PENDING') {
        actions.push(h('button', { type: 'button', text: 'Skip', onclick: (e) => act(e.target, `api/jobs/${job}/skip`) }));
      }
      if (r.status === 'FAILED') {
        actions.push(h('button', { type: 'button', class: 'primary', text: 'Retry',
          onclick: (e) => act(e.target, `api/jobs/${job}/retry`, (d) => {
            const run = d && d.runs && d.runs[0];
            if (run) location.hash = '#/runs/' + run.run_id;
          }) }));
      }
      const fields = [
        ['job', h('a', { href: '#/runs?job=' + job, text: r.job_name })],
        ['status', [pill(r.status), r.status_reason ? ' ' + r.status_reason : '']],
        ['attempt', r.attempt],
        ['trigger', r.trigger + (r.triggered_by ? ' by ' + r.triggered_by : '')],
        ['reason', r.reason || '—'],
        ['created', timeEl(r.created_at)], ['started', timeEl(r.started_at)], ['finished', timeEl(r.finished_at)],
        r.retry_at ? ['retry at', timeEl(r.retry_at)] : null,
        ['duration', fmtDuration(r.duration_ms)],
        ['exit code', r.exit_code ?? (r.signal ? 'signal ' + r.signal : '—')],
        ['SLA breached', r.sla_breached ? h('span', { class: 'pill s-failed', text: 'yes' }) : 'no'],
        r.hc_status ? ['healthcheck', pill(r.hc_status)] : null,
        ['cycle', r.cycle_id ? h('a', { href: '#/runs?cycle_id=' + encodeURIComponent(r.cycle_id), class: 'mono', text: r.cycle_id }) : '—'],
        r.cpu_user_ms !== null && r.cpu_user_ms !== undefined
          ? ['CPU / RSS', `${fmtDuration(r.cpu_user_ms)} user, ${fmtDuration(r.cpu_sys_ms)} sys, ${r.max_rss_kb ?? '?'} KiB`] : null,
      ].filter(Boolean);
      head.replaceChildren(
        h('h1', {}, h('a', { href: '#/jobs', text: '‹' }), `Run #${r.id}`, pill(r.status), h('span', { class: 'spacer' }), actions),
        h('div', { class: 'card' }, h('dl', { class: 'fields' }, fields.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]))));
      outputs.replaceChildren(...((outs || []).length ? [h('h2', { text: 'Outputs' }),
        table([['Name'], ['Value']], outs.map((o) => h('tr', {}, h('td', { class: 'mono', text: o.var_name }),
          h('td', { class: 'mono', text: o.value }))), '')] : []));
    } catch (e) {
      head.replaceChildren(errorBox(e));
    }
  }
  openLog();
  return {
    refresh,
    onEvent: (ev) => { if (ev.type === 'run' && ev.run_id === Number(id)) scheduleRefresh(100); },
    stop: () => { if (socket) { socket.onclose = null; socket.close(); } },
  };
}

/** Alerts: status badges, attempts, errors, Retry. */
function alertsView(root) {
  let page = 1;
  let status = '';
  const size = 50;
  const select = h('select', { 'aria-label': 'status', onchange: () => { status = select.value; page = 1; refresh(); } },
    ['', 'pending', 'delivered', 'failed'].map((x) => h('option', { value: x, text: x || 'any status' })));
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  root.replaceChildren(h('h1', { text: 'Alerts' }), h('div', { class: 'bar' }, select), body);

  async function refresh() {
    const q = new URLSearchParams({ page, page_size: size });
    if (status) q.set('status', status);
    try {
      const { data, total } = await api('api/db/alerts?' + q);
      const rows = (data || []).map((a) => h('tr', {},
        h('td', { text: a.id }),
        h('td', { text: a.job_name || '—' }),
        h('td', {}, a.run_id ? h('a', { href: '#/runs/' + a.run_id, text: '#' + a.run_id }) : '—'),
        h('td', { class: 'hide-sm', text: a.event }),
        h('td', { class: 'hide-sm mono', text: a.channel }),
        h('td', {}, pill(a.status)),
        h('td', { text: a.attempts }),
        h('td', {}, timeEl(a.last_attempt_at)),
        h('td', { class: 'desc', text: a.error || '' }),
        h('td', { class: 'actions' }, a.status === 'failed' ? h('button', { type: 'button', class: 'small', text: 'Retry',
          onclick: (e) => act(e.target, `api/alerts/${a.id}/retry`) }) : null)));
      const pages = Math.max(1, Math.ceil((total || 0) / size));
      body.replaceChildren(table([['Id'], ['Job'], ['Run'], ['Event', 'hide-sm'], ['Channel', 'hide-sm'], ['Status'],
        ['Attempts'], ['Last attempt'], ['Error'], ['']], rows, 'No alerts.'),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'small', text: '‹ Newer', disabled: page <= 1, onclick: () => { page -= 1; refresh(); } }),
        h('span', { class: 'muted', text: `page ${page} of ${pages} · ${total || 0} alerts` }),
        h('button', { type: 'button', class: 'small', text: 'Older ›', disabled: page >= pages, onclick: () => { page += 1; refresh(); } })));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  return { refresh };
}

/** Integrations: credentials, last delivery, Test. */
function integrationsView(root) {
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  root.replaceChildren(h('h1', { text: 'Integrations' }), body);
  const results = new Map();

  async function test(button, name) {
    button.disabled = true;
    try {
      const { data } = await api(`api/integrations/${encodeURIComponent(name)}/test`, { method: 'POST', body: {} });
      results.set(name, data);
      if (data.ok) toast(`${name}: test delivered (alert ${data.alert_id})`, 'ok');
      else toast(`${name}: ${data.error}`, 'error');
    } catch (e) {
      results.set(name, { ok: false, error: e.message });
      toast(`${name}: ${e.message}`, 'error');
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  async function refresh() {
    try {
      const { data } = await api('api/integrations');
      const rows = (data || []).map((i) => {
        const last = i.last_delivery;
        const tried = results.get(i.name);
        return h('tr', {},
          h('td', { text: i.name }),
          h('td', { text: i.provider }),
          h('td', {}, h('span', { class: 'pill ' + (i.credentials === 'set' ? 's-ok' : 's-failed'), text: i.status }),
            i.signed ? ' signed' : ''),
          h('td', {}, last ? [pill(last.status), ' ', timeEl(last.at), last.error ? h('div', { class: 'desc', text: last.error }) : null]
            : h('span', { class: 'muted', text: 'never' })),
          h('td', {}, tried ? (tried.ok ? pill('ok') : h('span', { class: 'desc', text: tried.error })) : ''),
          h('td', { class: 'actions' }, h('button', { type: 'button', class: 'small', text: 'Test',
            onclick: (e) => test(e.target, i.name) })));
      });
      body.replaceChildren(table([['Name'], ['Provider'], ['Credentials'], ['Last delivery'], ['Test result'], ['']],
        rows, 'No integrations configured (husky.yaml integrations:).'));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  return { refresh };
}

/** The DAG as layered SVG: a node's layer is one past its deepest dependency. */
function dagView(root) {
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  root.replaceChildren(h('h1', { text: 'Dependency graph' }), body);

  async function refresh() {
    try {
      const [{ data: nodes }, { data: jobs }] = await Promise.all([api('api/dag'), api('api/jobs')]);
      const byJob = new Map((jobs || []).map((j) => [j.name, j]));
      const layer = new Map();
      for (const n of nodes || []) {
        layer.set(n.name, Math.max(-1, ...n.dependencies.map((d) => layer.get(d) ?? -1)) + 1);
      }
      const columns = [];
      for (const n of nodes || []) (columns[layer.get(n.name)] ||= []).push(n.name);
      const W = 170, H = 40, GX = 70, GY = 22, PAD = 16;
      const pos = new Map();
      columns.forEach((col, x) => col.forEach((name, y) => pos.set(name, { x: PAD + x * (W + GX), y: PAD + y * (H + GY) })));
      const width = PAD * 2 + Math.max(1, columns.length) * (W + GX) - GX;
      const height = PAD * 2 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
      const edges = [];
      for (const n of nodes || []) {
        for (const d of n.dependencies) {
          const a = pos.get(d), b = pos.get(n.name);
          if (!a || !b) continue;
          const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 4, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
          edges.push(s('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
        }
      }
      const boxes = (nodes || []).map((n) => {
        const p = pos.get(n.name);
        const j = byJob.get(n.name);
        const status = j && (j.running ? 'RUNNING' : j.last_run && j.last_run.status);
        const label = n.name.length > 20 ? n.name.slice(0, 19) + '…' : n.name;
        return s('g', { class: 'node ' + cls(status), transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'link',
          onclick: () => { location.hash = j && j.last_run ? '#/runs/' + j.last_run.id : '#/runs?job=' + encodeURIComponent(n.name); } },
        s('title', { text: `${n.name}: ${status || 'never run'}` }),
        s('rect', { width: W, height: H, rx: 8 }),
        s('text', { x: 12, y: 25, text: label }));
      });
      const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'dependency graph' },
        s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
          s('path', { class: 'arrow', d: 'M0,0 L10,5 L0,10 z' }))),
        edges, boxes);
      body.replaceChildren((nodes || []).length ? h('div', { class: 'dag' }, svg) : h('div', { class: 'empty', text: 'No jobs.' }));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  return { refresh };
}

// ---------- routing ----------

function route() {
  if (state.view && state.view.stop) state.view.stop();
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  const root = $('#view');
  let name = parts[0] || 'jobs';
  let view;
  if (name === 'runs' && parts[1]) view = runView(root, decodeURIComponent(parts[1]).replace(/\D/g, ''));
  else if (name === 'runs') view = runsView(root, params);
  else if (name === 'alerts') view = alertsView(root);
  else if (name === 'integrations') view = integrationsView(root);
  else if (name === 'dag') view = dagView(root);
  else { name = 'jobs'; view = jobsView(root); }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name);
  state.view = view;
  view.refresh();
}

async function main() {
  $('#version').addEventListener('click', toggleInfo);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') $('#info-panel').hidden = true;
  });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) scheduleRefresh(50); });
  window.addEventListener('hashchange', route);
  await loadHeader();
  route();
  connectEvents();
}

main();
