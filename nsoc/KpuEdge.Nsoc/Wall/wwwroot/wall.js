'use strict';
// The NSOC wall: counters and the province map from the `wall` event, incidents from `incident` events (server-sent),
// drill-down province → kab/kota → kecamatan → device, and operators' actions (with the session's CSRF token).
const $ = (id) => document.getElementById(id);
const fmt = (n) => n == null ? '–' : Number(n).toLocaleString('id-ID');
// A tile grid of the 38 provinces, roughly where they lie (column, row).
const GRID = { 11: [0, 0], 12: [1, 1], 21: [3, 0], 14: [2, 1], 13: [1, 2], 15: [2, 2], 19: [4, 2], 17: [2, 3], 16: [3, 3], 18: [3, 4],
  36: [4, 5], 31: [5, 4], 32: [5, 5], 33: [6, 5], 34: [6, 6], 35: [7, 5], 51: [8, 6], 52: [9, 6], 53: [10, 6],
  61: [5, 1], 62: [6, 2], 63: [7, 3], 64: [7, 1], 65: [7, 0], 75: [9, 0], 71: [10, 0], 72: [9, 1], 76: [8, 2], 73: [8, 3], 74: [9, 3],
  82: [11, 1], 81: [11, 3], 96: [12, 1], 92: [13, 1], 91: [15, 1], 94: [13, 2], 95: [14, 2], 93: [15, 3] };
let me = null, incidents = new Map(), showResolved = false, current = null, lastWall = null;

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.method && options.method !== 'GET') { headers['X-CSRF-Token'] = me.csrf; headers['Content-Type'] = 'application/json'; }
  const r = await fetch('/nsoc/api' + path, Object.assign({}, options, { headers, credentials: 'same-origin' }));
  if (r.status === 401) { location.href = '/nsoc/login'; throw new Error('login'); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

function progressColor(share) {
  const hue = Math.round(10 + 110 * Math.min(1, share));
  return `hsl(${hue} 60% 55%)`;
}

function renderWall(w) {
  lastWall = w;
  $('c-online').textContent = fmt(w.devices.online);
  $('c-silent').textContent = fmt(w.devices.silent);
  $('c-never').textContent = fmt(w.devices.never_seen);
  $('c-tamper').textContent = fmt(w.devices.tamper);
  $('c-rate').textContent = fmt(w.ingest.forms_per_second);
  $('c-backlog').textContent = fmt(w.ingest.backlog);
  $('c-p99').textContent = w.ingest.p99_ms == null ? '–' : fmt(Math.round(w.ingest.p99_ms));
  $('c-progress').textContent = `${fmt(w.ingest.tps_reported)} / ${fmt(w.ingest.tps_total)}`;
  $('i-critical').textContent = fmt(w.incidents.critical);
  $('i-warning').textContent = fmt(w.incidents.warning);
  $('i-info').textContent = fmt(w.incidents.info);
  const map = $('map');
  for (const p of w.provinces) {
    let tile = document.getElementById('p-' + p.code);
    if (!tile) {
      tile = document.createElement('div');
      tile.id = 'p-' + p.code;
      tile.className = 'tile';
      tile.tabIndex = 0;
      const [col, row] = GRID[p.code] || [0, 7];
      tile.style.gridColumn = col + 1;
      tile.style.gridRow = row + 1;
      tile.addEventListener('click', () => drill(p.code));
      tile.addEventListener('keydown', (e) => { if (e.key === 'Enter') drill(p.code); });
      map.appendChild(tile);
    }
    const share = p.tps ? p.reported / p.tps : 0;
    tile.style.background = progressColor(share);
    tile.classList.toggle('trouble', p.tamper > 0 || p.silent > 0);
    tile.title = `${p.name}: ${fmt(p.reported)}/${fmt(p.tps)} TPS, ${fmt(p.online)} daring, ${fmt(p.silent)} diam, ${fmt(p.tamper)} casing terbuka`;
    tile.innerHTML = '';
    const name = document.createElement('b');
    name.textContent = p.name.replace('KEPULAUAN ', 'KEP. ').replace('SULAWESI', 'SUL.').replace('KALIMANTAN', 'KAL.');
    tile.append(name, `${Math.round(share * 100)}% · ${fmt(p.online)} on`);
  }
}

function renderIncidents() {
  const list = $('incidents');
  list.innerHTML = '';
  const order = { critical: 0, warning: 1, info: 2 };
  const shown = [...incidents.values()].filter((i) => showResolved || i.state !== 'resolved')
    .sort((a, b) => (order[a.severity] - order[b.severity]) || (b.last_seen_at > a.last_seen_at ? 1 : -1)).slice(0, 300);
  for (const i of shown) {
    const li = document.createElement('li');
    li.className = `${i.severity} ${i.state}`;
    li.dataset.id = i.id;
    const title = document.createElement('span');
    title.textContent = i.title;
    const meta = document.createElement('small');
    meta.textContent = `#${i.id} · ${i.severity} · ${stateName(i.state)} · ${new Date(i.last_seen_at).toLocaleTimeString('id-ID')} · ×${i.count}`;
    li.append(title, meta);
    li.addEventListener('click', () => openIncident(i.id));
    list.appendChild(li);
  }
}

const stateName = (s) => ({ open: 'terbuka', acknowledged: 'ditangani', resolved: 'selesai' })[s] || s;

async function openIncident(id) {
  const i = await api('/incidents/' + id);
  const d = $('incident-dialog');
  d.dataset.id = id;
  $('d-title').textContent = i.title;
  $('d-meta').textContent = `#${i.id} · ${i.rule} · ${i.severity} · ${stateName(i.state)} · dibuka ${new Date(i.opened_at).toLocaleString('id-ID')}` +
    (i.acknowledged_by ? ` · ditangani ${i.acknowledged_by}` : '') + (i.resolved_by ? ` · diselesaikan ${i.resolved_by}` : '');
  $('d-detail').textContent = i.detail;
  const notes = $('d-notes');
  notes.innerHTML = '';
  for (const n of i.notes || []) {
    const li = document.createElement('li');
    li.textContent = `${new Date(n.at).toLocaleString('id-ID')} ${n.account}: ${n.text}`;
    notes.appendChild(li);
  }
  const operator = me.role === 'operator';
  $('d-ack').disabled = !operator || i.state !== 'open';
  $('d-resolve').disabled = !operator || i.state === 'resolved';
  $('d-add-note').disabled = !operator;
  $('d-error').textContent = '';
  $('d-note').value = '';
  if (!d.open) d.showModal();
}

async function act(action) {
  const d = $('incident-dialog');
  try {
    const i = await api(`/incidents/${d.dataset.id}/${action}`, { method: 'POST', body: JSON.stringify({ note: $('d-note').value }) });
    incidents.set(i.id, i);
    renderIncidents();
    await openIncident(i.id);
  } catch (e) { $('d-error').textContent = e.message; }
}

async function drill(code) {
  current = code;
  const r = await api('/region/' + code);
  $('drill').hidden = false;
  const crumbs = $('crumbs');
  crumbs.innerHTML = '';
  const path = ['0'];
  for (const len of [2, 4, 6, 10]) if (code.length >= len && code !== '0') path.push(code.slice(0, len));
  for (const c of path) {
    const a = document.createElement('a');
    a.textContent = c === '0' ? 'Nasional' : c;
    a.addEventListener('click', () => drill(c));
    crumbs.appendChild(a);
  }
  crumbs.append(` — ${r.name}`);
  const body = document.querySelector('#children tbody');
  body.innerHTML = '';
  for (const c of r.children) {
    const tr = document.createElement('tr');
    const name = document.createElement('td');
    name.textContent = `${c.code} ${c.name}`;
    if (c.code.length <= 6) { name.className = 'link'; name.addEventListener('click', () => drill(c.code)); }
    tr.appendChild(name);
    for (const v of [c.tps, c.online, c.silent, c.tamper, c.battery_low]) { const td = document.createElement('td'); td.textContent = fmt(v); tr.appendChild(td); }
    body.appendChild(tr);
  }
  const devices = document.querySelector('#devices tbody');
  devices.innerHTML = '';
  $('devices').hidden = r.devices.length === 0;
  for (const d of r.devices) {
    const tr = document.createElement('tr');
    const id = document.createElement('td');
    id.textContent = d.device_id;
    id.className = 'link';
    id.addEventListener('click', () => device(d.device_id, d.tps));
    tr.appendChild(id);
    const cells = [d.tps, d.state, new Date(d.last_seen).toLocaleTimeString('id-ID'),
      d.battery_millivolts == null ? '–' : (d.battery_millivolts / 1000).toFixed(2) + ' V', fmt(d.outbox_forms),
      d.clock_offset_milliseconds == null ? '–' : (d.clock_offset_milliseconds / 1000).toFixed(1) + ' s'];
    for (const v of cells) { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); }
    tr.dataset.state = d.state;
    devices.appendChild(tr);
  }
  $('device').hidden = true;
}

async function device(id, place) {
  const r = await api(`/device/${encodeURIComponent(id)}?place=${place}`);
  const box = $('device');
  box.hidden = false;
  box.innerHTML = '';
  const h = document.createElement('h3');
  h.textContent = `Perangkat ${id}`;
  box.appendChild(h);
  const points = (r.history && r.history.health) || [];
  const p = document.createElement('p');
  p.id = 'device-history';
  p.textContent = r.history && r.history.error ? r.history.error : `${points.length} laporan dalam 6 jam terakhir (InfluxDB).`;
  box.appendChild(p);
  if (points.length > 1) box.appendChild(sparkline(points.map((x) => x.values.battery_mv).filter((v) => v != null), 'Baterai (mV)'));
  const events = (r.history && r.history.events) || [];
  const ul = document.createElement('ul');
  ul.id = 'device-events';
  for (const e of events) { const li = document.createElement('li'); li.textContent = `${new Date(e.at).toLocaleString('id-ID')} ${e.values.kind}: ${e.values.detail}`; ul.appendChild(li); }
  box.appendChild(ul);
}

function sparkline(values, label) {
  const w = 300, h = 40, min = Math.min(...values), max = Math.max(...values), span = max - min || 1;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', w); svg.setAttribute('height', h); svg.setAttribute('aria-label', label);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#79c0ff');
  line.setAttribute('points', values.map((v, i) => `${(i / (values.length - 1)) * w},${h - ((v - min) / span) * (h - 4) - 2}`).join(' '));
  svg.appendChild(line);
  return svg;
}

function connect() {
  const source = new EventSource('/nsoc/api/stream');
  source.addEventListener('open', () => { $('live').textContent = 'langsung'; $('live').classList.add('ok'); });
  source.addEventListener('error', () => { $('live').textContent = 'terputus — menyambung ulang…'; $('live').classList.remove('ok'); });
  source.addEventListener('wall', (e) => renderWall(JSON.parse(e.data)));
  source.addEventListener('incident', (e) => { const i = JSON.parse(e.data); incidents.set(i.id, i); renderIncidents(); });
}

async function start() {
  me = await api('/me');
  $('who').textContent = `${me.name} (${me.role})`;
  $('logout').addEventListener('click', async () => { await api('/logout', { method: 'POST' }); location.href = '/nsoc/login'; });
  $('show-resolved').addEventListener('change', async (e) => { showResolved = e.target.checked; if (showResolved) await loadIncidents(true); renderIncidents(); });
  $('d-ack').addEventListener('click', () => act('ack'));
  $('d-resolve').addEventListener('click', () => act('resolve'));
  $('d-add-note').addEventListener('click', () => act('note'));
  $('d-close').addEventListener('click', () => $('incident-dialog').close());
  renderWall(await api('/wall'));
  await loadIncidents(false);
  renderIncidents();
  connect();
}

async function loadIncidents(all) {
  const r = await api('/incidents' + (all ? '?all=true' : ''));
  for (const i of r.incidents) incidents.set(i.id, i);
}

start();
