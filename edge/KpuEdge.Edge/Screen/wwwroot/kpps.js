'use strict';
// The KPPS's screen: photos in → the reading beside them, flagged fields first → confirm or correct with every rule
// re-checked as one types → sign with the chair's PIN → the witness QR → delivery per contest. Bahasa Indonesia.
const api = '/kpps/api';
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const DELIVERY = { not_signed: 'belum ditandatangani', waiting: 'menunggu dikirim', sent: 'terkirim, menunggu tanda terima',
  receipted: 'diterima — tercatat di log, bukti diperiksa', rejected: 'ditolak' };
const CONTEST = { ppwp: 'PPWP', dpr: 'DPR', dpd: 'DPD', 'dprd-prov': 'DPRD Provinsi', 'dprd-kab': 'DPRD Kab/Kota' };
let device = null;
let current = null; // { scan, tally }

async function call(path, init) {
  init = init || {};
  init.headers = Object.assign({ 'X-KPPS': '1' }, init.headers || {});
  const r = await fetch(api + path, init);
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(answer.error || ('Gagal (' + r.status + ')')); e.violations = answer.violations; throw e; }
  return answer;
}
const post = (path, body) => call(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

function show(id) {
  for (const s of ['scan', 'review', 'signed', 'status']) $(s).hidden = s !== id;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === (id === 'status' ? 'status' : 'scan'));
}

// A reader's field key ("dpt.l", "surat.sisa", "suara[2].calon[3]", "suara_sah") onto the tally.
function setField(tally, key, value) {
  let m;
  if ((m = key.match(/^suara\[(\d+)\]\.(total|partai|calon\[(\d+)\])$/))) {
    const choice = tally.suara.find((c) => c.number === Number(m[1]));
    if (m[2] === 'total') choice.total = value;
    else if (m[2] === 'partai') choice.party_votes = value;
    else choice.candidate_votes[Number(m[3]) - 1] = value;
  } else if ((m = key.match(/^(\w+)\.(\w+)$/))) tally[m[1]][m[2]] = value;
  else tally[key] = value;
}

let checking = 0;
async function check() {
  const mine = ++checking;
  const answer = await post('/check', { tally: current.tally }).catch((e) => ({ violations: [{ message: e.message }] }));
  if (mine !== checking) return;
  $('violations').replaceChildren(...answer.violations.map((v) => el('li', v.message + (v.field ? ' [' + v.field + ']' : ''))));
  current.violations = answer.violations.length;
  updateSign();
}

function updateSign() {
  const needsReason = !$('reason-label').hidden && $('reason').value.trim() === '';
  $('sign').disabled = current.violations > 0 || $('pin').value.length < 6 || needsReason;
  $('sign').title = current.violations > 0 ? 'Tidak dapat ditandatangani selama ada aturan yang dilanggar.' : needsReason ? 'Tuliskan alasan koreksi.' : '';
}

async function review(scan) {
  const tally = structuredClone(scan.tally);
  for (const f of scan.fields) setField(tally, f.key, f.proposed);
  current = { scan, tally, violations: 0 };
  show('review');
  $('review-title').textContent = CONTEST[scan.contest] + ' — TPS ' + scan.tps;
  $('review-summary').textContent = scan.flagged === 0 ? 'Semua angka terbaca yakin dan semua aturan terpenuhi: cocokkan sekilas, lalu tanda tangani.'
    : scan.flagged + ' kolom perlu diperiksa (paling atas, berwarna kuning): cocokkan dengan kertas.';
  const photos = $('review-photos');
  photos.replaceChildren();
  for (let p = 1; p <= scan.photos; p++) { const img = el('img'); img.alt = 'Foto halaman ' + p; img.src = api + '/scan/' + scan.id + '/photos/' + p; photos.append(img); }
  const body = $('fields').tBodies[0];
  body.replaceChildren();
  for (const f of scan.fields) {
    const row = el('tr', undefined, f.flags.length ? 'flagged' : '');
    const input = el('input'); input.type = 'number'; input.min = '0'; input.inputMode = 'numeric'; input.value = f.proposed; input.dataset.key = f.key;
    input.addEventListener('input', () => { setField(current.tally, f.key, Number(input.value)); check(); });
    const cell = el('td'); cell.append(input);
    let why = f.why.join('; ');
    if (f.proposed !== f.value) why += (why ? '; ' : '') + 'terbaca ' + f.value + ', diusulkan ' + f.proposed + ' agar aturan terpenuhi';
    const crop = el('img', undefined, 'crop'); crop.alt = f.label; crop.src = api + '/scan/' + scan.id + '/crops/' + encodeURIComponent(f.key);
    const label = el('td'); label.append(el('div', f.label), crop);
    row.append(label, cell, el('td', Math.round(f.confidence * 100) + '%'), el('td', why));
    body.append(row);
  }
  const status = await call('/status');
  const mine = status.contests.find((c) => c.contest === scan.contest);
  $('reason-label').hidden = !mine || mine.delivery === 'not_signed';
  $('reason').value = ''; $('pin').value = ''; $('sign-error').textContent = '';
  check();
}

async function sign() {
  $('sign-error').textContent = '';
  try {
    const answer = await post('/sign', { tally: current.tally, scan_id: current.scan.id, pin: $('pin').value, correction_reason: $('reason').value || null });
    show('signed');
    $('signed-summary').textContent = CONTEST[answer.contest] + ' ditandatangani (nomor urut ' + answer.sequence + (answer.correction_reason ? ', koreksi: ' + answer.correction_reason : '') + '). Perangkat mengirimnya begitu ada sambungan.';
    $('qr').src = answer.qr;
  } catch (e) {
    $('pin').value = '';
    updateSign();
    $('sign-error').textContent = e.message + (e.violations ? ': ' + e.violations.map((v) => v.message).join('; ') : '');
  }
}

async function loadStatus() {
  const status = await call('/status');
  $('status-table').tBodies[0].replaceChildren(...status.contests.map((c) => {
    const row = el('tr'); row.dataset.contest = c.contest;
    const photos = c.photos.pages ? c.photos.stored + ' dari ' + c.photos.pages + ' halaman tersimpan di pusat' : '—';
    const qr = el('td');
    if (c.hash) { const a = el('a', 'QR saksi'); a.href = api + '/qr/' + c.hash; a.target = '_blank'; qr.append(a); }
    row.append(el('td', CONTEST[c.contest]), el('td', DELIVERY[c.delivery] + (c.reason ? ': ' + c.reason : ''), 'd-' + c.delivery),
      el('td', photos), el('td', String(c.versions)), qr);
    return row;
  }));
}

async function start() {
  device = await call('/device');
  $('title').textContent = 'Perangkat KPPS — TPS ' + device.tps;
  for (const c of device.contests) { const o = el('option', CONTEST[c]); o.value = c; $('contest').append(o); }
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => {
    if (b.dataset.tab === 'status') { show('status'); loadStatus(); } else show('scan');
  });
  $('scan-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('scan-error').textContent = '';
    $('read').disabled = true;
    try { await review(await call('/scan', { method: 'POST', body: new FormData($('scan-form')) })); }
    catch (x) { $('scan-error').textContent = x.message; }
    finally { $('read').disabled = false; }
  });
  $('pin').addEventListener('input', updateSign);
  $('reason').addEventListener('input', updateSign);
  $('sign').addEventListener('click', sign);
  $('cancel').addEventListener('click', () => show('scan'));
  $('to-status').addEventListener('click', () => { show('status'); loadStatus(); });
  if (!device.pin_set) $('scan-error').textContent = 'PIN ketua KPPS belum diatur di perangkat ini (kpu-edge set-pin): formulir belum dapat ditandatangani.';
  setInterval(() => { if (!$('status').hidden) loadStatus(); }, 5000);
}

start();
