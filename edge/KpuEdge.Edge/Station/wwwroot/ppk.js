'use strict';
// The PPK station's screen: forms of the kecamatan, a form's photos beside its numbers, verify / keberatan / koreksi,
// the D.Hasil, and every statement with its delivery. Bahasa Indonesia; no library.
const api = '/ppk/api';
let me = null;
let current = null; // the form shown in detail

const STATUS = { not_received: 'belum diterima', received: 'diterima', verified: 'terverifikasi', objection: 'ada keberatan', corrected: 'dikoreksi PPK' };
const DELIVERY = { waiting: 'menunggu dikirim', sent: 'terkirim, menunggu tanda terima', receipted: 'tercatat di log (bukti diperiksa)', rejected: 'ditolak cloud' };
const KIND = { verification: 'Verifikasi', objection: 'Keberatan', correction: 'Koreksi', dhasil: 'D.Hasil' };
const CONTEST = { ppwp: 'PPWP', dpr: 'DPR', dpd: 'DPD', 'dprd-prov': 'DPRD Prov', 'dprd-kab': 'DPRD Kab/Kota' };
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };

async function call(path, body) {
  const init = { credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.headers['X-CSRF-Token'] = me.csrf;
    init.body = JSON.stringify(body);
  }
  const r = await fetch(api + path, init);
  if (r.status === 401) { location.href = '/ppk/login'; throw new Error('login'); }
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(answer.error || ('Gagal (' + r.status + ')')); e.violations = answer.violations; throw e; }
  return answer;
}

function show(tab) {
  for (const id of ['forms', 'detail', 'dhasil', 'statements']) $(id).hidden = id !== tab;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === tab || (tab === 'detail' && b.dataset.tab === 'forms'));
}

async function loadForms() {
  const data = await call('/forms');
  $('title').textContent = 'Stasiun PPK ' + data.station + ' — Kecamatan ' + data.nama + ' (' + data.kecamatan + ')';
  const filter = $('contest-filter').value;
  const body = $('form-table').tBodies[0];
  body.replaceChildren();
  const counts = {};
  for (const f of data.forms) {
    counts[f.status] = (counts[f.status] || 0) + 1;
    if (filter && f.contest !== filter) continue;
    const row = el('tr', undefined, 'clickable');
    row.dataset.tps = f.tps; row.dataset.contest = f.contest;
    row.append(el('td', f.tps), el('td', CONTEST[f.contest]), el('td', STATUS[f.status], 's-' + f.status), el('td', f.delivery ? DELIVERY[f.delivery] : '—'));
    row.addEventListener('click', () => openForm(f.tps, f.contest));
    body.append(row);
  }
  $('counts').textContent = Object.entries(counts).map(([k, v]) => STATUS[k] + ': ' + v).join(' · ');
}

function numbersRows(t) {
  const rows = [['DPT (L/P/Jumlah)', t.dpt.l + ' / ' + t.dpt.p + ' / ' + t.dpt.total],
    ['Pengguna hak pilih (jumlah)', t.pengguna_total.total], ['Surat suara digunakan', t.surat.digunakan]];
  for (const c of t.suara) rows.push(['Suara pilihan ' + c.number, c.total]);
  rows.push(['Suara sah', t.suara_sah], ['Suara tidak sah', t.suara_tidak_sah], ['Jumlah suara', t.suara_total]);
  return rows;
}

function renderTable(table, rows) {
  table.replaceChildren();
  for (const [k, v] of rows) { const r = el('tr'); r.append(el('th', k), el('td', String(v))); table.append(r); }
}

// The correction editor: every number of the form, edited in place; every rule re-checked on the station as one types.
function renderEditor(tally) {
  const editor = $('editor');
  editor.replaceChildren();
  const edited = structuredClone(tally);
  const input = (label, obj, key) => {
    const l = el('label', label + ' ');
    const i = el('input');
    i.type = 'number'; i.min = '0'; i.value = obj[key]; i.dataset.field = label;
    i.addEventListener('input', () => { obj[key] = Number(i.value); check(edited); });
    l.append(i);
    return l;
  };
  for (const key of ['dpt', 'pengguna_dpt', 'pengguna_dptb', 'pengguna_dpk', 'pengguna_total', 'disabilitas']) {
    const fs = el('fieldset'); fs.append(el('legend', key.replace(/_/g, ' ')));
    for (const part of ['l', 'p', 'total']) fs.append(input(key + '.' + part, edited[key], part));
    editor.append(fs);
  }
  const surat = el('fieldset'); surat.append(el('legend', 'surat suara'));
  for (const part of ['diterima', 'digunakan', 'rusak', 'sisa']) surat.append(input('surat.' + part, edited.surat, part));
  editor.append(surat);
  const suara = el('fieldset'); suara.append(el('legend', 'perolehan suara'));
  for (const c of edited.suara) {
    suara.append(input('suara.' + c.number, c, 'total'));
    if (c.candidate_votes && c.candidate_votes.length) {
      suara.append(input('suara.' + c.number + '.partai', c, 'party_votes'));
      c.candidate_votes.forEach((_, i) => suara.append(input('suara.' + c.number + '.caleg.' + (i + 1), c.candidate_votes, i)));
    }
  }
  editor.append(suara);
  for (const key of ['suara_sah', 'suara_tidak_sah', 'suara_total']) editor.append(input(key, edited, key));
  current.edited = edited;
  check(edited);
}

let checking = 0;
async function check(tally) {
  const mine = ++checking;
  const answer = await call('/check', { tally }).catch((e) => ({ violations: [{ message: e.message }] }));
  if (mine !== checking) return;
  const list = $('violations');
  list.replaceChildren(...answer.violations.map((v) => el('li', v.message + (v.field ? ' [' + v.field + ']' : ''))));
  const changed = JSON.stringify(tally) !== JSON.stringify(current.detail.counted);
  $('correct').disabled = answer.violations.length > 0 || !changed || me.role !== 'operator';
  $('correct').title = answer.violations.length > 0 ? 'Tidak dapat ditandatangani selama ada aturan yang dilanggar.' : changed ? '' : 'Belum ada angka yang diubah.';
}

async function openForm(tps, contest) {
  const detail = await call('/forms/' + tps + '/' + contest);
  current = { tps, contest, detail };
  show('detail');
  $('detail-title').textContent = CONTEST[contest] + ' — TPS ' + tps;
  $('detail-status').replaceChildren(el('span', 'Status: ' + STATUS[detail.status], 's-' + detail.status),
    el('span', detail.counted_by === 'ppk' ? ' · angka yang dihitung: koreksi PPK' : detail.counted_by === 'device' ? ' · angka yang dihitung: perangkat TPS' : ''));
  const pages = $('pages');
  pages.replaceChildren();
  for (let p = 1; p <= detail.pages; p++) {
    const img = el('img'); img.alt = 'Halaman ' + p + ' C.Hasil TPS ' + tps; img.src = api + '/forms/' + tps + '/' + contest + '/pages/' + p;
    pages.append(img);
  }
  if (detail.pages === 0) pages.append(el('p', 'Foto formulir belum ada di stasiun.'));
  if (detail.counted) renderTable($('numbers'), numbersRows(detail.counted)); else $('numbers').replaceChildren();
  $('rules').textContent = detail.rules ? (detail.rules.length === 0 ? 'Semua aturan C.Hasil terpenuhi.' : 'Aturan dilanggar: ' + detail.rules.map((r) => r.message).join('; ')) : '';
  $('signature').textContent = detail.device ? 'Tanda tangan perangkat ' + detail.device.device_id + ': ' +
    ({ verified_by_cloud: 'diperiksa cloud, tercatat di log indeks ' + detail.device.log_index, pending: 'belum diperiksa cloud (menunggu tanda terima)', refused: 'ditolak cloud' })[detail.device.signature] : '';
  const operator = me.role === 'operator';
  $('actions').hidden = !detail.counted;
  $('verify').disabled = !operator || detail.status === 'verified';
  $('object').disabled = !operator;
  $('action-error').textContent = '';
  $('objector').value = ''; $('objection-text').value = ''; $('reason').value = '';
  if (detail.counted) renderEditor(detail.counted);
  $('form-statements').replaceChildren(...detail.statements.map(statementItem));
}

function statementItem(s) {
  let text = KIND[s.kind] + ' #' + s.sequence + ' — ' + DELIVERY[s.delivery];
  if (s.objection) text += ' — ' + s.objection.objector + ': ' + s.objection.text;
  if (s.correction) text += ' — alasan: ' + s.correction.reason;
  if (s.log_index !== undefined) text += ' (log ' + s.log_index + ')';
  return el('li', text);
}

async function act(path, body) {
  $('action-error').textContent = '';
  try {
    await call('/forms/' + current.tps + '/' + current.contest + path, body);
    await openForm(current.tps, current.contest);
    loadForms();
  } catch (e) {
    $('action-error').textContent = e.message + (e.violations ? ': ' + e.violations.map((v) => v.message).join('; ') : '');
  }
}

let recapAsked = 0;
async function loadRecap() {
  const contest = $('dhasil-contest').value;
  const asked = ++recapAsked;
  const data = await call('/dhasil/' + contest);
  // Switched contest again while this one was on its way: only the newest answer is shown.
  if (asked !== recapAsked) return;
  $('dhasil-summary').textContent = data.included.length + ' formulir terverifikasi atau dikoreksi akan dijumlahkan; ' + data.left.length + ' belum.';
  if (data.totals) renderTable($('dhasil-totals'), numbersRows(data.totals)); else $('dhasil-totals').replaceChildren();
  $('sign-dhasil').disabled = !data.totals || me.role !== 'operator';
  $('dhasil-signed').replaceChildren(...data.signed.map((s) => {
    const li = statementItem(s);
    if (s.finding) li.append(el('span', s.finding.agrees ? ' — sama dengan jumlah cloud' : ' — BERBEDA dari jumlah cloud: ' + s.finding.differences.join(', '), s.finding.agrees ? 'agrees' : 'differs'));
    return li;
  }));
}

async function loadStatements() {
  const data = await call('/statements');
  $('statement-table').tBodies[0].replaceChildren(...data.statements.map((s) => {
    const row = el('tr');
    const note = s.finding ? (s.finding.agrees ? 'sama dengan jumlah cloud' : 'berbeda: ' + s.finding.differences.join(', ')) : (s.reason || '');
    row.append(el('td', String(s.sequence)), el('td', KIND[s.kind]), el('td', String(s.forms)), el('td', DELIVERY[s.delivery]),
      el('td', s.log_index !== undefined ? String(s.log_index) : '—'), el('td', note));
    return row;
  }));
}

async function start() {
  me = await call('/me');
  $('who').textContent = me.name + ' (' + (me.role === 'operator' ? 'anggota PPK' : 'pengamat') + ')';
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => {
    show(b.dataset.tab);
    if (b.dataset.tab === 'forms') loadForms();
    if (b.dataset.tab === 'dhasil') loadRecap();
    if (b.dataset.tab === 'statements') loadStatements();
  });
  $('contest-filter').addEventListener('change', loadForms);
  $('back').addEventListener('click', () => { show('forms'); loadForms(); });
  $('verify').addEventListener('click', () => act('/verify', {}));
  $('object').addEventListener('click', () => act('/objection', { objector: $('objector').value, text: $('objection-text').value }));
  $('correct').addEventListener('click', () => act('/correction', { reason: $('reason').value, tally: current.edited }));
  $('dhasil-contest').addEventListener('change', loadRecap);
  $('sign-dhasil').addEventListener('click', async () => {
    $('dhasil-error').textContent = '';
    try { await call('/dhasil/' + $('dhasil-contest').value, {}); loadRecap(); } catch (e) { $('dhasil-error').textContent = e.message; }
  });
  $('logout').addEventListener('click', async () => { await call('/logout', {}).catch(() => {}); location.href = '/ppk/login'; });
  await loadForms();
  setInterval(() => { if (!$('forms').hidden) loadForms(); }, 10000);
}

start();
