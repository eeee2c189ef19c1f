// The public portal: drill-down nasional → provinsi → kab/kota → kecamatan → desa → TPS over the public tree
// (/pemilu/hhcw/…, /wilayah/pemilu/ppwp/…), and on a TPS page "Periksa di browser ini" (verify.js).
"use strict";
(() => {
  const TEXT = {
    id: {
      title: "Hasil Pemilu", loading: "Memuat…", nasional: "Nasional", progress: "TPS masuk", of: "dari", curve: "Perkembangan TPS masuk",
      region: "Wilayah", votes: "Suara", none: "Belum ada data untuk wilayah ini.", noTps: "Belum ada formulir C.Hasil dari TPS ini.",
      sah: "Suara sah", tidakSah: "Suara tidak sah", total: "Jumlah suara", dpt: "Pemilih DPT", pengguna: "Pengguna hak pilih",
      photos: "Foto formulir C.Hasil", noPhotos: "Foto belum diterima.", signedBy: "Ditandatangani oleh perangkat",
      countedBy: "Angka yang dihitung", byDevice: "dari perangkat TPS", byPpk: "koreksi PPK (rapat pleno)", versions: "Versi formulir",
      reason: "Alasan koreksi", ppk: "Status PPK", flags: "Tanda anomali", noFlags: "Tidak ada tanda anomali.", check: "Periksa di browser ini",
      checking: "Memeriksa…", verdictOk: "Semua pemeriksaan berhasil: angka ini ditandatangani perangkat TPS dan tercatat di log transparansi.",
      verdictOkPpk: "Semua pemeriksaan berhasil: angka ini koreksi pleno yang ditandatangani stasiun PPK, menggantikan formulir perangkat TPS; keduanya tercatat di log transparansi.",
      verdictFail: "PERINGATAN: pemeriksaan gagal. Jangan percaya angka di halaman ini.", checkpointAt: "Data per checkpoint log",
      flagNote: "Tanda anomali tidak pernah mengubah angka; ia meminta orang untuk memeriksa.", statusTrue: "lengkap",
      anomalies: "Anomali", flaggedTps: "TPS bertanda", rule: "Aturan", province: "Provinsi", noneFlagged: "Tidak ada TPS bertanda di sini.",
      rules: {
        votes_sum_not_sah: "Jumlah suara pilihan ≠ suara sah", sah_plus_tidak_sah_not_total: "Suara sah + tidak sah ≠ jumlah suara",
        turnout_over_dpt: "Pengguna hak pilih > DPT + 2%", single_choice_all_votes: "Semua suara sah untuk satu pilihan",
        pattern_outlier: "Perolehan jauh dari pola kab/kota", turnout_outlier: "Partisipasi jauh dari kab/kota",
        ppk_correction_far: "Koreksi PPK jauh dari bacaan perangkat", photos_missing: "Foto formulir belum ada",
      },
      steps: {
        decoded: a => `Formulir yang ditandatangani dibaca: TPS ${a.tps}.`,
        hash: a => `Hash formulir tidak cocok (${a.hash}).`,
        identity: a => `Formulir yang ditandatangani adalah milik TPS lain atau pemilihan lain (${a.tps}).`,
        chain: a => a ? `Sertifikat perangkat diterbitkan oleh CA KPU (tersemat di halaman) untuk TPS ${a.tps}.` : "Sertifikat perangkat tidak diterbitkan oleh CA KPU.",
        certificate_tps: a => `Sertifikat perangkat bukan untuk TPS ${a.tps} atau tidak berlaku saat ditandatangani.`,
        signature: a => a ? `Tanda tangan Ed25519 perangkat ${a.device} sah (diperiksa dengan WebCrypto).` : "Tanda tangan perangkat TIDAK sah.",
        numbers: a => a ? `Angka di halaman TIDAK sama dengan yang ditandatangani (${a.field}).` : "Angka di halaman sama dengan angka yang ditandatangani.",
        ppk_missing: () => "Koreksi PPK yang dihitung tidak ada di halaman.",
        ppk_identity: a => `Koreksi PPK bukan untuk formulir TPS ${a.tps} ini.`,
        ppk_chain: a => `Sertifikat stasiun PPK bukan dari CA KPU untuk kecamatan ${a.kecamatan}.`,
        ppk_signature: a => a ? `Koreksi pleno ditandatangani stasiun PPK ${a.station} (kecamatan ${a.kecamatan}), sertifikat dari CA KPU: "${a.reason}".` : "Tanda tangan koreksi PPK TIDAK sah.",
        ppk_inclusion: a => `Koreksi PPK tercatat di log transparansi (entri ${a.index} dari ${a.size}).`,
        checkpoint: a => `Checkpoint log (${a.size} entri) ditandatangani oleh kunci log yang tersemat di halaman.`,
        consistent: a => `Checkpoint ini konsisten dengan ${a.count} checkpoint yang pernah dilihat browser ini.`,
        inclusion: a => a ? `Formulir tercatat di log transparansi (entri ${a.index} dari ${a.size}); bukti inklusi cocok.` : "Bukti inklusi di log TIDAK cocok.",
        split: a => `ALARM: server menunjukkan dua isi log berbeda untuk ukuran ${a.size} (split view).`,
        rewritten: a => `ALARM: log dari ${a.from} ke ${a.to} entri tidak konsisten: riwayat ditulis ulang.`,
        rollback: a => `ALARM: server tidak dapat membuktikan log yang pernah dilihat (${a.size} entri): riwayat mundur.`,
        error: a => `Pemeriksaan gagal: ${a.message}`,
      },
    },
    en: {
      title: "Election results", loading: "Loading…", nasional: "National", progress: "Polling stations reported", of: "of", curve: "Reporting over time",
      region: "Region", votes: "Votes", none: "No data for this region yet.", noTps: "No C.Hasil form from this polling station yet.",
      sah: "Valid votes", tidakSah: "Invalid votes", total: "Total votes", dpt: "Registered voters", pengguna: "Voters who voted",
      photos: "Photos of the C.Hasil form", noPhotos: "Photos not received yet.", signedBy: "Signed by device",
      countedBy: "Numbers counted", byDevice: "from the TPS device", byPpk: "PPK correction (plenary)", versions: "Form versions",
      reason: "Correction reason", ppk: "PPK status", flags: "Anomaly flags", noFlags: "No anomaly flags.", check: "Check in this browser",
      checking: "Checking…", verdictOk: "Every check passed: these numbers were signed by the TPS device and are in the transparency log.",
      verdictOkPpk: "Every check passed: these numbers are the plenary's correction signed by the PPK station, replacing the TPS device's form; both are in the transparency log.",
      verdictFail: "WARNING: a check failed. Do not trust the numbers on this page.", checkpointAt: "Data as of log checkpoint",
      flagNote: "A flag never changes a number; it asks a person to look.", statusTrue: "complete",
      anomalies: "Anomalies", flaggedTps: "Flagged polling stations", rule: "Rule", province: "Province", noneFlagged: "No flagged polling station here.",
      rules: {
        votes_sum_not_sah: "Choices' votes ≠ valid votes", sah_plus_tidak_sah_not_total: "Valid + invalid ≠ total votes",
        turnout_over_dpt: "Voters > DPT + 2%", single_choice_all_votes: "Every valid vote to one choice",
        pattern_outlier: "Result far from the kab/kota's pattern", turnout_outlier: "Turnout far from the kab/kota's",
        ppk_correction_far: "PPK correction far from the device's reading", photos_missing: "Form photos missing",
      },
      steps: {
        decoded: a => `Signed form read: TPS ${a.tps}.`,
        hash: a => `The form's hash does not match (${a.hash}).`,
        identity: a => `The signed form belongs to another TPS or election (${a.tps}).`,
        chain: a => a ? `The device certificate was issued by KPU's CA (pinned in the page) for TPS ${a.tps}.` : "The device certificate was not issued by KPU's CA.",
        certificate_tps: a => `The device certificate is not for TPS ${a.tps}, or was not valid when it signed.`,
        signature: a => a ? `Device ${a.device}'s Ed25519 signature is valid (checked with WebCrypto).` : "The device signature is NOT valid.",
        numbers: a => a ? `The numbers on the page are NOT the signed ones (${a.field}).` : "The numbers on the page are the signed ones.",
        ppk_missing: () => "The counted PPK correction is not on the page.",
        ppk_identity: a => `The PPK correction is not for this TPS ${a.tps}'s form.`,
        ppk_chain: a => `The PPK station's certificate is not KPU's CA's for kecamatan ${a.kecamatan}.`,
        ppk_signature: a => a ? `The plenary's correction is signed by PPK station ${a.station} (kecamatan ${a.kecamatan}), certified by KPU's CA: "${a.reason}".` : "The PPK correction's signature is NOT valid.",
        ppk_inclusion: a => `The PPK correction is in the transparency log (entry ${a.index} of ${a.size}).`,
        checkpoint: a => `Log checkpoint (${a.size} entries) signed by the log key pinned in the page.`,
        consistent: a => `This checkpoint is consistent with the ${a.count} checkpoint(s) this browser has seen.`,
        inclusion: a => a ? `The form is in the transparency log (entry ${a.index} of ${a.size}); the inclusion proof holds.` : "The log inclusion proof does NOT hold.",
        split: a => `ALARM: the server showed two different logs of size ${a.size} (split view).`,
        rewritten: a => `ALARM: the log from ${a.from} to ${a.to} entries is inconsistent: history was rewritten.`,
        rollback: a => `ALARM: the server cannot prove a log this browser saw (${a.size} entries): history went back.`,
        error: a => `The check failed: ${a.message}`,
      },
    },
  };
  const CONTESTS = [["ppwp", "PPWP"], ["dpr", "DPR"], ["dpd", "DPD"], ["dprd-prov", "DPRD Prov"], ["dprd-kab", "DPRD Kab/Kota"]];
  const LENGTHS = [2, 4, 6, 10, 13];
  const trust = KpuVerify.trust;
  let lang = localStorage.getItem("kpu.lang") || "id";
  const t = key => TEXT[lang][key];
  const view = document.getElementById("view");

  const el = (tag, attrs = {}, ...kids) => {
    const node = document.createElement(tag);
    // Styles through the CSSOM: the page's policy forbids style attributes.
    for (const [k, v] of Object.entries(attrs)) k === "text" ? node.textContent = v : k === "style" ? node.style.cssText = v : node.setAttribute(k, v);
    node.append(...kids.filter(k => k !== null && k !== undefined));
    return node;
  };
  const num = n => n === null || n === undefined ? "–" : Number(n).toLocaleString(lang === "id" ? "id-ID" : "en-US");
  const chain = code => LENGTHS.filter(l => l <= code.length).map(l => code.slice(0, l));
  // Listings never change: kept for the visit. Results are fetched once per page shown (requests made while a page is
  // being put together share one answer).
  const listings = new Map();
  let pending = new Map();
  function json(url) {
    const kept = url.startsWith("/wilayah/") ? listings : pending;
    if (!kept.has(url)) kept.set(url, fetch(url).then(r => r.ok ? r.json() : null).catch(() => null));
    return kept.get(url);
  }
  const listing = code => json(code ? `/wilayah/pemilu/ppwp/${chain(code).join("/")}.json` : "/wilayah/pemilu/ppwp/0.json");
  const resultsFile = (contest, code) => code ? `/pemilu/hhcw/${contest}/${chain(code).join("/")}.json` : `/pemilu/hhcw/${contest}.json`;

  function choiceName(contest, key) {
    const pair = trust.election.pairs.find(p => p.key === key);
    if (contest === "ppwp" && pair) return `${pair.number}. ${pair.name}`;
    const party = trust.election.parties.find(p => p.key === key);
    if (party && contest !== "ppwp" && contest !== "dpd") return `${party.number}. ${party.abbreviation}`;
    return key.includes("-") ? `No. ${Number(key.split("-")[1])}` : key;
  }

  // The names along the path, from the listings (fetched at once: on 3G each round trip is half a second).
  async function names(code) {
    const codes = chain(code);
    const listings = await Promise.all(codes.map((c, i) => listing(i ? codes[i - 1] : "")));
    return [["", t("nasional")], ...codes.map((c, i) => [c, (listings[i] || []).find(r => r.kode === c)?.nama ?? c])];
  }

  async function render() {
    const parts = location.hash.split("/");
    const flags = parts[1] === "anomali";
    const [contestSlug = "ppwp", code = ""] = parts.slice(flags ? 2 : 1);
    const contest = CONTESTS.some(c => c[0] === contestSlug) ? contestSlug : "ppwp";
    document.documentElement.lang = lang;
    document.getElementById("lang").textContent = lang === "id" ? "EN" : "ID";
    document.querySelector("[data-t=title]").textContent = `${t("title")} — ${trust.election.name}`;
    const nav = document.getElementById("contests");
    const base = flags ? "#/anomali" : "#";
    nav.replaceChildren(...CONTESTS.map(([slug, label]) =>
      el("a", slug === contest ? { href: `${base}/${slug}/${code}`, "aria-current": "page" } : { href: `${base}/${slug}/${code}` }, label)),
      el("a", flags ? { href: `#/anomali/${contest}`, "aria-current": "page", id: "flags-link" } : { href: `#/anomali/${contest}`, id: "flags-link" }, t("anomalies")));
    view.replaceChildren(el("p", { text: t("loading") }));
    // The path's names, the page's data and the checkpoint line are fetched together.
    pending = new Map();
    const manifestLoad = json("/pemilu/snapshot.json");
    if (flags) json(code ? `/pemilu/anomali/${contest}/${code.slice(0, 2)}.json` : `/pemilu/anomali/${contest}.json`);
    else json(code.length === 13 ? `/pemilu/hhcw/${contest}/${chain(code).join("/")}.json` : resultsFile(contest, code));
    if (code.length < 13) listing(code);
    const crumbs = await names(code);
    document.getElementById("crumbs").replaceChildren(...crumbs.flatMap(([c, name], i) =>
      [i ? " › " : "", el("a", { href: `#/${contest}/${c}` }, name)]));
    if (flags) await renderFlags(contest, code);
    else if (code.length === 13) await renderTps(contest, code, crumbs.at(-1)[1]);
    else await renderRegion(contest, code, crumbs.at(-1)[1]);
    const manifest = await manifestLoad;
    if (manifest) document.getElementById("log").textContent =
      `${t("checkpointAt")}: ${manifest.checkpoint.size} · root ${manifest.checkpoint.root} · ${manifest.ts} UTC`;
  }

  function bars(contest, chart) {
    const keys = Object.keys(chart).filter(k => k !== "persen" && k !== "null");
    const total = keys.reduce((s, k) => s + (chart[k] || 0), 0);
    return el("div", { class: "bars" }, ...keys.map(k => {
      const share = total ? chart[k] / total : 0;
      return el("div", { class: "bar" }, el("span", { class: "name", text: choiceName(contest, k) }),
        el("div", {}, el("div", { class: "fill", style: `width:${(share * 100).toFixed(2)}%` })),
        el("span", { text: `${num(chart[k])} (${(share * 100).toFixed(2)}%)` }));
    }));
  }

  function curve(points, total) {
    if (!points || points.length < 2 || !total) return null;
    const times = points.map(p => Date.parse(p[0].replace(" ", "T") + "Z"));
    const t0 = times[0], span = Math.max(1, times.at(-1) - t0);
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "curve");
    svg.setAttribute("viewBox", "0 0 100 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("curve"));
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map((p, i) => `${((times[i] - t0) / span * 100).toFixed(2)},${(40 - p[1] / total * 40).toFixed(2)}`).join(" "));
    svg.append(line);
    return svg;
  }

  async function renderRegion(contest, code, name) {
    const [file, children] = await Promise.all([json(resultsFile(contest, code)), listing(code)]);
    const parts = [el("h2", { text: name })];
    if (!file) parts.push(el("p", { text: t("none") }));
    else {
      const p = file.progres;
      parts.push(el("p", { text: `${t("progress")}: ${num(p.progres)} ${t("of")} ${num(p.total)} (${file.chart.persen}%)` }),
        el("div", { class: "progress" }, el("div", { style: `width:${file.chart.persen}%` })),
        curve(file.kurva, p.total), bars(contest, file.chart));
    }
    const keys = file ? Object.keys(file.chart).filter(k => k !== "persen") : [];
    const rows = (children || []).map(child => {
      const row = file?.table?.[child.kode];
      return el("tr", {}, el("td", {}, el("a", { href: `#/${contest}/${child.kode}` }, child.nama)),
        ...keys.map(k => el("td", { text: num(row?.[k]) })), el("td", { text: row ? `${row.persen}%` : "–" }));
    });
    parts.push(el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", { text: t("region") }), ...keys.map(k => el("th", { text: choiceName(contest, k) })), el("th", { text: "%" }))),
      el("tbody", {}, ...rows))));
    view.replaceChildren(...parts);
  }

  async function renderTps(contest, code, name) {
    const file = await json(`/pemilu/hhcw/${contest}/${chain(code).join("/")}.json`);
    if (!file) return view.replaceChildren(el("h2", { text: name }), el("p", { text: t("noTps") }));
    const a = file.administrasi, s = file.submission;
    const check = el("section", { id: "check", class: "card" },
      el("button", { type: "button", id: "check-button" }, t("check")), el("ol", { id: "check-steps" }));
    view.replaceChildren(
      el("h2", { text: `${name} (${code})` }),
      bars(contest, file.chart),
      el("table", {}, el("tbody", {},
        ...[[t("sah"), a.suara_sah], [t("tidakSah"), a.suara_tidak_sah], [t("total"), a.suara_total], [t("dpt"), a.pemilih_dpt_j], [t("pengguna"), a.pengguna_total_j]]
          .map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: num(v), "data-field": k }))))),
      el("div", { class: "card" },
        el("p", { text: `${t("countedBy")}: ${file.counted_by === "ppk" ? t("byPpk") : t("byDevice")}` }),
        el("p", { text: `${t("signedBy")} ${s.device_id} · ${s.device_time} · #${s.sequence}` }),
        el("p", { text: `${t("ppk")}: ${file.ppk.status}` }),
        ...file.ppk.statements.map(x => el("p", { text: `${x.kind} · ${x.station} · ${x.correction?.reason ?? x.objection?.text ?? ""}` }))),
      el("div", { class: "card" }, el("h3", { text: t("versions") }), el("ol", {}, ...file.versions.map(v =>
        el("li", { text: `#${v.sequence} · ${v.hash.slice(0, 16)}… · log ${v.log_index}${v.correction_reason ? ` · ${t("reason")}: ${v.correction_reason}` : ""}` })))),
      el("div", { class: "card" }, el("h3", { text: t("flags") }),
        file.anomali.length ? el("ul", {}, ...file.anomali.map(f => el("li", { class: "flag", "data-rule": f.rule, text: `${TEXT[lang].rules[f.rule] || f.rule}: ${f.detail}` }))) : el("p", { text: t("noFlags") }),
        el("small", { text: t("flagNote") })),
      el("div", { class: "card" }, el("h3", { text: t("photos") }),
        file.images.length ? el("div", { class: "photos" }, ...file.images.filter(Boolean).map((url, i) =>
          el("a", { href: url }, el("img", { src: url, alt: `${t("photos")} ${i + 1}`, loading: "lazy" })))) : el("p", { text: t("noPhotos") })),
      check);
    document.getElementById("check-button").addEventListener("click", async () => {
      const list = document.getElementById("check-steps");
      list.replaceChildren(el("li", { text: t("checking") }));
      const steps = [];
      const say = (ok, step, args) => {
        const words = TEXT[lang].steps[step];
        steps.push(el("li", { class: ok ? "ok" : "fail", "data-step": step, text: words ? words(args) : step }));
        list.replaceChildren(...steps);
      };
      const ok = await KpuVerify.checkTps(file, say);
      check.querySelector(".verdict")?.remove();
      check.append(el("p", { class: `verdict ${ok ? "ok" : "fail"}`, role: "status", "data-verdict": ok ? "ok" : "fail", text: ok ? t(file.counted_by === "ppk" ? "verdictOkPpk" : "verdictOk") : t("verdictFail") }));
    });
  }

  // The public anomaly flags: the nation's count by rule and province, or a province's flagged TPS with their rules.
  async function renderFlags(contest, province) {
    const ruleName = r => TEXT[lang].rules[r] || r;
    if (!province) {
      const summary = await json(`/pemilu/anomali/${contest}.json`);
      const provinces = await listing("");
      const counts = summary?.provinsi || {};
      return view.replaceChildren(el("h2", { text: `${t("anomalies")} — ${t("flaggedTps")}: ${num(summary?.tps ?? 0)}` }),
        el("table", {}, el("tbody", {}, ...Object.entries(summary?.aturan || {}).map(([r, n]) =>
          el("tr", {}, el("td", { text: ruleName(r) }), el("td", { text: num(n) }))))),
        el("h3", { text: t("province") }),
        el("table", {}, el("tbody", {}, ...(provinces || []).filter(p => counts[p.kode]?.tps).map(p =>
          el("tr", {}, el("td", {}, el("a", { href: `#/anomali/${contest}/${p.kode}` }, p.nama)), el("td", { text: num(counts[p.kode].tps) }))))),
        el("p", {}, el("small", { text: t("flagNote") })));
    }
    const file = await json(`/pemilu/anomali/${contest}/${province.slice(0, 2)}.json`);
    const listed = Object.entries(file?.tps || {});
    view.replaceChildren(el("h2", { text: `${t("anomalies")} — ${t("flaggedTps")}: ${num(listed.length)}` }),
      listed.length ? el("table", {}, el("tbody", {}, ...listed.map(([tps, found]) => el("tr", {},
        el("td", {}, el("a", { href: `#/${contest}/${tps}` }, tps)),
        el("td", { style: "text-align:left" }, ...found.map(f => el("div", { class: "flag", text: `${ruleName(f.rule)}: ${f.detail}` }))))))) : el("p", { text: t("noneFlagged") }),
      el("p", {}, el("small", { text: t("flagNote") })));
  }

  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "id" ? "en" : "id";
    localStorage.setItem("kpu.lang", lang);
    render();
  });
  window.addEventListener("hashchange", render);
  render();
})();
