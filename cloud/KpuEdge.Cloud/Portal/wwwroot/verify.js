// KpuVerify: what the reader's own browser checks of a published result, with WebCrypto only — the device's Ed25519
// signature over the form, the form's numbers against the page's, the device certificate's chain to KPU's CA (pinned in
// the page) and its TPS, the form's inclusion in the transparency log under a checkpoint signed by the log key (pinned
// in the page), and the consistency of every checkpoint this browser has seen. Formats: docs/protocol.md, docs/verification.md.
"use strict";
const KpuVerify = (() => {
  const enc = new TextEncoder();
  const trust = JSON.parse(document.getElementById("kpu-trust").textContent);
  const CONTESTS = { ppwp: 1, dpr: 2, dpd: 3, "dprd-prov": 4, "dprd-kab": 5 };
  const IDENTITY_OID = "2.25.281496119122865942644505411048993302857";
  const FORM_DOMAIN = enc.encode("KPU-C1\0");
  const PPK_DOMAIN = enc.encode("KPU-PPK\0");
  const CORRECTION = 3;

  const b64 = s => Uint8Array.from(atob(s), c => c.charCodeAt(0));
  const hex = a => Array.from(a, b => b.toString(16).padStart(2, "0")).join("");
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async data => new Uint8Array(await crypto.subtle.digest("SHA-256", data));

  // ---- CBOR (canonical; what our signed messages use) ----
  function cbor(bytes) {
    let at = 0;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    function length(info) {
      if (info < 24) return info;
      if (info === 24) return bytes[at++];
      if (info === 25) { const v = view.getUint16(at); at += 2; return v; }
      if (info === 26) { const v = view.getUint32(at); at += 4; return v; }
      if (info === 27) { const v = Number(view.getBigUint64(at)); at += 8; return v; }
      throw new Error("CBOR: indefinite or reserved length");
    }
    function item() {
      const head = bytes[at++], major = head >> 5, info = head & 31;
      if (major === 7) return info === 20 ? false : info === 21 ? true : null;
      const n = length(info);
      switch (major) {
        case 0: return n;
        case 1: return -1 - n;
        case 2: { const v = bytes.slice(at, at + n); at += n; return v; }
        case 3: { const v = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + n)); at += n; return v; }
        case 4: return Array.from({ length: n }, item);
        case 5: { const m = new Map(); for (let i = 0; i < n; i++) m.set(item(), item()); return m; }
        default: throw new Error("CBOR: unexpected major type " + major);
      }
    }
    const value = item();
    if (at !== bytes.length) throw new Error("CBOR: trailing bytes");
    return value;
  }

  // The tally layout of crypto/TallyCbor.cs, shared by forms and PPK statements.
  function decodeTally(t) {
    const gc = ([l, p, j]) => ({ l, p, j });
    return {
      dpt: gc(t[0]), penggunaDpt: gc(t[1]), penggunaDptb: gc(t[2]), penggunaDpk: gc(t[3]), penggunaTotal: gc(t[4]),
      suara: t[7].map(c => ({ number: c[0], total: c[1] })), sah: t[8], tidakSah: t[9], total: t[10],
    };
  }

  // A signed submission's body, by the layout of crypto/SubmissionCodec.cs.
  function decodeForm(wire) {
    const [body, signature] = cbor(wire);
    const f = cbor(body);
    return {
      body, signature, electionId: f[1], contest: f[2], tps: f[3], deviceId: f[4], sequence: f[5], deviceTime: new Date(f[7]),
      imageHash: hex(f[8]), correctionReason: f[10] ?? null, tally: decodeTally(f[9]),
    };
  }

  // A PPK statement's body, by the layout of crypto/Ppk/PpkStatementCodec.cs: the station's certificate travels inside.
  function decodeStatement(wire) {
    const [body, signature] = cbor(wire);
    const f = cbor(body);
    const statement = { body, signature, kind: f[1], electionId: f[2], station: f[3], kecamatan: f[4], time: new Date(f[7]), certificate: f[8] };
    if (statement.kind === CORRECTION) {
      const [[local, contest, hash], reason, tally] = f[9];
      Object.assign(statement, { tps: f[4] + String(local).padStart(7, "0"), contest, replaces: hex(hash), reason, tally: decodeTally(tally) });
    }
    return statement;
  }

  // ---- DER / X.509 (just what a KPU certificate needs) ----
  function der(bytes, at = 0) {
    const tag = bytes[at];
    let len = bytes[at + 1], start = at + 2;
    if (len & 0x80) {
      const count = len & 0x7f;
      len = 0;
      for (let i = 0; i < count; i++) len = len * 256 + bytes[start + i];
      start += count;
    }
    return { tag, start, end: start + len, raw: bytes.subarray(at, start + len), content: bytes.subarray(start, start + len) };
  }
  function children(node) {
    const out = [];
    for (let at = 0; at < node.content.length;) {
      const child = der(node.content, at);
      out.push(child);
      at = child.end;
    }
    return out;
  }
  function oid(content) {
    const parts = [];
    let value = 0n;
    for (const b of content) {
      value = (value << 7n) | BigInt(b & 0x7f);
      if (!(b & 0x80)) { parts.push(value); value = 0n; }
    }
    const first = parts.shift();
    const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
    return [...head, ...parts].join(".");
  }
  function time(node) {
    const s = new TextDecoder().decode(node.content);
    const full = node.tag === 0x17 ? (Number(s.slice(0, 2)) >= 50 ? "19" : "20") + s : s; // UTCTime or GeneralizedTime
    return new Date(`${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`);
  }
  function certificate(derBytes) {
    const [tbs, , sig] = children(der(derBytes));
    const fields = children(tbs);
    const i = fields[0].tag === 0xa0 ? 1 : 0; // explicit version
    const validity = children(fields[i + 3]);
    const cert = {
      tbs: tbs.raw, signature: sig.content.subarray(1), issuer: fields[i + 2].raw, subject: fields[i + 4].raw,
      spki: fields[i + 5].raw, notBefore: time(validity[0]), notAfter: time(validity[1]), identity: null,
    };
    const ext = fields.find(f => f.tag === 0xa3);
    if (ext) {
      for (const e of children(children(ext)[0])) {
        const parts = children(e);
        if (oid(parts[0].content) !== IDENTITY_OID) continue;
        const value = children(der(parts[parts.length - 1].content)).map(p => new TextDecoder().decode(p.content));
        cert.identity = { role: value[0], assignment: value[1], electionId: value[2] };
      }
    }
    return cert;
  }
  const pem = text => b64(text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
  const pemBlocks = text => (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) || []).map(pem);

  // ECDSA signature DER → the raw r ‖ s WebCrypto verifies.
  function rawEcdsa(sigDer) {
    const [r, s] = children(der(sigDer)).map(n => {
      let v = n.content;
      while (v.length > 32 && v[0] === 0) v = v.subarray(1);
      return concat(new Uint8Array(32 - v.length), v);
    });
    return concat(r, s);
  }
  async function signedBy(cert, issuer) {
    const key = await crypto.subtle.importKey("spki", issuer.spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, rawEcdsa(cert.signature), cert.tbs);
  }

  // ---- Signed notes and the log (C2SP signed-note, tlog-checkpoint; RFC 9162 proofs) ----
  async function verifyNote(note) {
    const [name, keyHashHex, keyB64] = trust.log_key.trim().split("+");
    const typed = b64(keyB64);
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("no signature block");
    const text = note.slice(0, split + 1);
    const line = note.slice(split + 2).split("\n").find(l => l.startsWith(`— ${name} `));
    if (!line) throw new Error("not signed by the pinned log key");
    const raw = b64(line.slice(`— ${name} `.length));
    if (hex(raw.subarray(0, 4)) !== keyHashHex) throw new Error("signed by another key of the log's name");
    const key = await crypto.subtle.importKey("raw", typed.subarray(1), { name: "Ed25519" }, false, ["verify"]);
    if (!await crypto.subtle.verify({ name: "Ed25519" }, key, raw.subarray(4), enc.encode(text))) throw new Error("bad signature");
    const [origin, size, root] = text.split("\n");
    return { origin, size: Number(size), root: b64(root) };
  }
  const node = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
  async function rootFromInclusion(index, size, leaf, proof) {
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await node(p, r);
        if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else r = await node(r, p);
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }
  async function consistent(first, second, proof) {
    if (first.size === second.size) return proof.length === 0 && equal(first.root, second.root);
    if (first.size > second.size || proof.length === 0) return false;
    if ((first.size & (first.size - 1)) === 0) proof = [first.root, ...proof];
    let fn = first.size - 1, sn = second.size - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = proof[0], sr = proof[0];
    for (const c of proof.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await node(c, fr); sr = await node(c, sr);
        if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else sr = await node(sr, c);
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, first.root) && equal(sr, second.root);
  }

  async function getJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  // Every checkpoint this browser has verified, per log origin; a new one must be consistent with all of them.
  const storeKey = origin => `kpu.checkpoints.${origin}`;
  function remembered(origin) {
    try { return JSON.parse(localStorage.getItem(storeKey(origin)) || "[]").map(c => ({ size: c.size, root: b64(c.root) })); }
    catch { return []; }
  }
  function remember(origin, list) {
    const kept = list.sort((a, b) => a.size - b.size).slice(-30);
    localStorage.setItem(storeKey(origin), JSON.stringify(kept.map(c => ({ size: c.size, root: btoa(String.fromCharCode(...c.root)) }))));
  }

  /** Checks a signed checkpoint and its consistency with every checkpoint seen before. Throws with the alarm's words. */
  async function observe(note, say) {
    const cp = await verifyNote(note);
    say(true, "checkpoint", { size: cp.size });
    const seen = remembered(cp.origin);
    for (const old of seen) {
      if (old.size === cp.size && !equal(old.root, cp.root)) throw Object.assign(new Error("split"), { alarm: "split", size: cp.size });
      if (old.size === cp.size) continue;
      const [from, to] = old.size < cp.size ? [old, cp] : [cp, old];
      let proof;
      try { proof = (await getJson(`/api/v1/log/proof/consistency?from=${from.size}&to=${to.size}`)).proof.map(b64); }
      catch { throw Object.assign(new Error("rollback"), { alarm: "rollback", size: to.size }); }
      if (!await consistent(from, to, proof)) throw Object.assign(new Error("rewritten"), { alarm: "rewritten", from: from.size, to: to.size });
    }
    if (seen.length) say(true, "consistent", { count: seen.length });
    if (!seen.some(c => c.size === cp.size)) remember(cp.origin, [...seen, cp]);
    return cp;
  }

  /** A certificate from KPU's CA (pinned in the page), of this role and assignment, valid at `at`; its public key's SPKI, or null. */
  async function chained(der, role, assignment, electionId, at) {
    const ca = trust.ca.flatMap(pemBlocks).map(certificate);
    const cert = certificate(der);
    const issuer = ca.find(c => equal(c.subject, cert.issuer));
    const root = ca[0];
    if (!issuer || !await signedBy(cert, issuer) || (issuer !== root && !await signedBy(issuer, root))) return { chain: false };
    const id = cert.identity;
    return { chain: true, cert, holds: !!id && id.role === role && id.assignment === assignment && id.electionId === electionId && at >= cert.notBefore && at <= cert.notAfter };
  }

  async function ed25519(spki, signature, message) {
    const key = await crypto.subtle.importKey("spki", spki, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  /** The log entry `type ‖ wire` under a checkpoint signed by the pinned log key, consistent with every one seen before. */
  async function included(hash, type, wire, say) {
    const inclusion = await getJson(`/api/v1/log/proof/inclusion?hash=${hash}`);
    const cp = await observe(inclusion.checkpoint, say);
    const entry = concat(Uint8Array.of(type), wire);
    if (!equal(b64(inclusion.entry), entry) || inclusion.tree_size !== cp.size) return null;
    const root = await rootFromInclusion(inclusion.leaf_index, cp.size, await sha256(concat(Uint8Array.of(0), entry)), inclusion.proof.map(b64));
    return equal(root, cp.root) ? { index: inclusion.leaf_index, size: cp.size } : null;
  }

  /**
   * Checks a TPS file of the public tree. `say(ok, step, args)` reports each step as it is decided; returns true when
   * every step held. Nothing the server sends is trusted but the bytes it signs: the keys are the page's.
   */
  async function checkTps(file, say) {
    try {
      const wire = b64(file.submission.wire);
      const hash = hex(await sha256(wire));
      const form = decodeForm(wire);
      if (hash !== file.submission.hash) return say(false, "hash", { hash }), false;
      if (form.tps !== file.kode || form.contest !== CONTESTS[file.contest] || form.electionId !== trust.election.id)
        return say(false, "identity", { tps: form.tps }), false;
      say(true, "decoded", { tps: form.tps });

      // The device certificate: chained to KPU's pinned CA, a TPS device's, of this TPS, valid when the form was signed.
      const pem = await (await fetch(file.submission.certificate_url, { cache: "no-store" })).text();
      const device = await chained(pemBlocks(pem)[0], "tps", form.tps, form.electionId, form.deviceTime);
      if (!device.chain) return say(false, "chain"), false;
      if (!device.holds) return say(false, "certificate_tps", { tps: form.tps }), false;
      say(true, "chain", { tps: form.tps });
      if (!await ed25519(device.cert.spki, form.signature, concat(FORM_DOMAIN, form.body))) return say(false, "signature"), false;
      say(true, "signature", { device: form.deviceId });

      // The numbers shown are the signed ones: the device's, or the PPK's correction (checked below).
      if (file.counted_by === "device") {
        const wrong = numbersDiffer(file, form.tally);
        if (wrong) return say(false, "numbers", { field: wrong }), false;
        say(true, "numbers");
      }
      const logged = await included(hash, 1, wire, say);
      if (!logged) return say(false, "inclusion"), false;
      say(true, "inclusion", logged);
      return file.counted_by === "device" || await checkCorrection(file, say);
    } catch (e) {
      say(false, e.alarm || "error", { ...e, message: e.message });
      return false;
    }
  }

  /** The PPK's correction the page counts: signed by a station of this TPS's kecamatan, replacing the form above, logged. */
  async function checkCorrection(file, say) {
    const stored = file.ppk.statements.find(x => x.hash === file.ppk.counted);
    if (!stored?.wire) return say(false, "ppk_missing"), false;
    const wire = b64(stored.wire);
    const hash = hex(await sha256(wire));
    const st = decodeStatement(wire);
    if (hash !== stored.hash || st.kind !== CORRECTION || st.tps !== file.kode || st.contest !== CONTESTS[file.contest]
        || st.replaces !== file.submission.hash || st.electionId !== trust.election.id)
      return say(false, "ppk_identity", { tps: file.kode }), false;
    const station = await chained(st.certificate, "ppk", st.kecamatan, st.electionId, st.time);
    if (!station.chain || !station.holds) return say(false, "ppk_chain", { kecamatan: st.kecamatan }), false;
    if (!await ed25519(station.cert.spki, st.signature, concat(PPK_DOMAIN, st.body))) return say(false, "ppk_signature"), false;
    say(true, "ppk_signature", { station: st.station, kecamatan: st.kecamatan, reason: st.reason });
    const wrong = numbersDiffer(file, st.tally);
    if (wrong) return say(false, "numbers", { field: wrong }), false;
    say(true, "numbers");
    const logged = await included(hash, 3, wire, say);
    if (!logged) return say(false, "inclusion"), false;
    say(true, "ppk_inclusion", logged);
    return true;
  }

  function numbersDiffer(file, t) {
    const adm = file.administrasi;
    const pairs = [["suara_sah", t.sah], ["suara_tidak_sah", t.tidakSah], ["suara_total", t.total]];
    for (const [name, g] of [["pemilih_dpt", t.dpt], ["pengguna_dpt", t.penggunaDpt], ["pengguna_dptb", t.penggunaDptb],
      ["pengguna_non_dpt", t.penggunaDpk], ["pengguna_total", t.penggunaTotal]])
      pairs.push([`${name}_j`, g.j], [`${name}_l`, g.l], [`${name}_p`, g.p]);
    for (const [name, value] of pairs) if (adm[name] !== value) return name;
    for (const choice of t.suara) {
      const key = publicKey(file.contest, choice.number, file.kode);
      if (file.chart[key] !== choice.total) return key;
    }
    const shown = Object.keys(file.chart).filter(k => k !== "null").length;
    return shown === t.suara.length ? null : "chart";
  }

  // The chart key of a ballot number: KPU's id of a pair or party; a DPD candidate's names its province (the dapil).
  function publicKey(contest, number, tps) {
    if (contest === "dpd") return `${tps.slice(0, 2)}-${String(number).padStart(2, "0")}`;
    const list = contest === "ppwp" ? trust.election.pairs : trust.election.parties;
    return list.find(c => c.number === number)?.key ?? String(number);
  }

  return { trust, checkTps, observe, verifyNote };
})();
