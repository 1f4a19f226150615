// Parallax web console: an ADQL editor, sync and async runs, the UWS job list, a paged result
// table, downloads in every output format and a sky plot. Plain JavaScript, no dependencies:
// the page talks to the TAP resources next to it like any other TAP client.
"use strict";

(function () {
  const MOUNT = document.body.dataset.mount || "";
  const XLINK = "http://www.w3.org/1999/xlink";
  const $ = (id) => document.getElementById(id);

  // The output formats of /sync (server/src/tap/params.rs and formats/src/negotiate.rs).
  const FORMATS = [
    { value: "votable", label: "VOTable", ext: "vot" },
    { value: "votable/b2", label: "VOTable BINARY2", ext: "vot" },
    { value: "votable/b", label: "VOTable BINARY", ext: "vot" },
    { value: "csv", label: "CSV", ext: "csv" },
    { value: "tsv", label: "TSV", ext: "tsv" },
    { value: "json", label: "JSON", ext: "json" },
    { value: "parquet", label: "Parquet", ext: "parquet" },
    { value: "arrow", label: "Arrow IPC", ext: "arrows" },
  ];
  const NUMERIC = new Set([
    "short", "int", "long", "float", "double", "unsignedByte", "floatComplex", "doubleComplex",
  ]);
  const TERMINAL = new Set(["COMPLETED", "ERROR", "ABORTED", "ARCHIVED"]);

  const state = {
    result: null, // { fields, rows, overflow }
    page: 0,
    pageSize: 100,
    job: null, // URL of the async job being watched
    busy: false,
  };

  // ---------------------------------------------------------------- VOTable parsing

  function byTag(node, name) {
    return Array.from(node.getElementsByTagNameNS("*", name));
  }

  function childrenByTag(node, name) {
    return Array.from(node.children).filter((c) => c.localName === name);
  }

  function parseXml(text) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    if (doc.getElementsByTagName("parsererror").length > 0) {
      throw new Error("the service answered a document that is not well-formed XML");
    }
    return doc;
  }

  // The QUERY_STATUS INFO of a VOTable (a DALI error document or a result), if any.
  function queryStatus(doc) {
    const infos = byTag(doc, "INFO").filter((i) => i.getAttribute("name") === "QUERY_STATUS");
    const error = infos.find((i) => i.getAttribute("value") === "ERROR");
    if (error) return { value: "ERROR", message: error.textContent.trim() };
    const overflow = infos.find((i) => i.getAttribute("value") === "OVERFLOW");
    if (overflow) return { value: "OVERFLOW", message: overflow.textContent.trim() };
    return infos.length ? { value: infos[0].getAttribute("value"), message: "" } : null;
  }

  // A TABLEDATA VOTable into fields and rows of strings (null for NULL cells). Cell text is
  // kept as served, so 64-bit identifiers are not rounded through JavaScript numbers.
  function parseVotable(text) {
    const doc = parseXml(text);
    const status = queryStatus(doc);
    if (status && status.value === "ERROR") {
      const e = new Error(status.message || "the query failed");
      e.positioned = true;
      throw e;
    }
    const table = byTag(doc, "TABLE")[0];
    if (!table) throw new Error("the response holds no result table");
    const fields = childrenByTag(table, "FIELD").map((f) => {
      const values = childrenByTag(f, "VALUES")[0];
      return {
        name: f.getAttribute("name") || "",
        datatype: f.getAttribute("datatype") || "char",
        arraysize: f.getAttribute("arraysize"),
        ucd: f.getAttribute("ucd") || "",
        unit: f.getAttribute("unit") || "",
        xtype: f.getAttribute("xtype") || "",
        nullValue: values ? values.getAttribute("null") : null,
        description: (childrenByTag(f, "DESCRIPTION")[0] || { textContent: "" }).textContent.trim(),
      };
    });
    fields.forEach((f) => {
      f.numeric = NUMERIC.has(f.datatype) && !f.arraysize;
    });
    const rows = [];
    const data = byTag(table, "TABLEDATA")[0];
    if (data) {
      for (const tr of data.children) {
        if (tr.localName !== "TR") continue;
        const row = new Array(fields.length).fill(null);
        let i = 0;
        for (const td of tr.children) {
          if (td.localName !== "TD" || i >= fields.length) continue;
          const f = fields[i];
          const v = td.textContent;
          // TABLEDATA NULLs: an empty cell for non-character types, the declared sentinel,
          // and NaN for floating point.
          const isNull =
            (v === "" && f.datatype !== "char" && f.datatype !== "unicodeChar") ||
            (f.nullValue !== null && v === f.nullValue) ||
            (v === "NaN" && (f.datatype === "float" || f.datatype === "double")) ||
            td.hasAttribute("null");
          row[i] = isNull ? null : v;
          i++;
        }
        rows.push(row);
      }
    } else if (childrenByTag(table, "DATA").length > 0) {
      throw new Error("the result is not in TABLEDATA serialisation");
    }
    const overflow = status && status.value === "OVERFLOW";
    return { fields, rows, overflow };
  }

  // The message of a DALI error document, or of whatever else an error response holds.
  function errorMessage(text, status) {
    try {
      const s = queryStatus(parseXml(text));
      if (s && s.message) return s.message;
    } catch (_) {
      // not XML: fall through
    }
    const plain = (text || "").trim();
    return plain ? `HTTP ${status}: ${plain.slice(0, 2000)}` : `HTTP ${status}`;
  }

  // ---------------------------------------------------------------- UI helpers

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    box.dataset.line = "";
    box.dataset.column = "";
    // ADQL errors carry "line L, column C": put the caret there.
    const m = /line\s+(\d+)\s*,?\s*col(?:umn)?\s+(\d+)/i.exec(message);
    if (m) {
      const line = parseInt(m[1], 10);
      const column = parseInt(m[2], 10);
      box.dataset.line = String(line);
      box.dataset.column = String(column);
      const editor = $("editor");
      const lines = editor.value.split("\n");
      let offset = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset = Math.min(editor.value.length, offset + Math.max(0, column - 1));
      editor.focus();
      editor.setSelectionRange(offset, Math.min(editor.value.length, offset + 1));
    }
  }

  function clearError() {
    const box = $("error");
    box.hidden = true;
    box.textContent = "";
  }

  function setBusy(busy) {
    state.busy = busy;
    $("run-sync").disabled = busy;
    $("run-async").disabled = busy;
    document.body.dataset.busy = busy ? "true" : "false";
  }

  function queryParams(format) {
    const p = new URLSearchParams();
    p.set("REQUEST", "doQuery");
    p.set("LANG", "ADQL");
    p.set("QUERY", $("editor").value);
    p.set("RESPONSEFORMAT", format);
    const maxrec = $("maxrec").value.trim();
    if (maxrec !== "") p.set("MAXREC", maxrec);
    return p;
  }

  function sameOrigin(href, fallback) {
    try {
      const u = new URL(href, location.href);
      return u.origin === location.origin ? u.href : fallback;
    } catch (_) {
      return fallback;
    }
  }

  // ---------------------------------------------------------------- running queries

  async function runSync() {
    if (state.busy) return;
    clearError();
    setBusy(true);
    setStatus("running…");
    const started = performance.now();
    try {
      const resp = await fetch(`${MOUNT}/sync`, {
        method: "POST",
        body: queryParams("votable/td"),
        headers: { Accept: "application/x-votable+xml" },
      });
      const text = await resp.text();
      if (!resp.ok) {
        showError(errorMessage(text, resp.status));
        setStatus(`failed (HTTP ${resp.status})`);
        return;
      }
      const result = parseVotable(text);
      const ms = Math.round(performance.now() - started);
      showResult(result, `sync, ${ms} ms`);
    } catch (e) {
      showError(e.message || String(e));
      setStatus("failed");
    } finally {
      setBusy(false);
    }
  }

  function parseJob(text) {
    const doc = parseXml(text);
    const one = (name) => {
      const el = byTag(doc, name)[0];
      return el ? el.textContent.trim() : "";
    };
    const results = byTag(doc, "result").map((r) => ({
      id: r.getAttribute("id"),
      href: r.getAttributeNS(XLINK, "href") || r.getAttribute("xlink:href"),
    }));
    const summary = byTag(doc, "errorSummary")[0];
    return {
      id: one("jobId"),
      phase: one("phase"),
      results,
      error: summary ? (byTag(summary, "message")[0] || summary).textContent.trim() : "",
    };
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function runAsync() {
    if (state.busy) return;
    clearError();
    setBusy(true);
    const started = performance.now();
    try {
      const params = queryParams("votable/td");
      params.set("PHASE", "RUN");
      const created = await fetch(`${MOUNT}/async`, { method: "POST", body: params });
      const createdText = await created.text();
      if (!created.ok) {
        showError(errorMessage(createdText, created.status));
        setStatus(`job refused (HTTP ${created.status})`);
        return;
      }
      let job = parseJob(createdText);
      const jobUrl = `${MOUNT}/async/${encodeURIComponent(job.id)}`;
      state.job = jobUrl;
      $("cancel").disabled = false;
      refreshJobs();
      let delay = 200;
      while (!TERMINAL.has(job.phase)) {
        setStatus(`job ${job.id}: ${job.phase}`);
        await sleep(delay);
        delay = Math.min(2000, delay * 1.5);
        const r = await fetch(jobUrl);
        if (!r.ok) throw new Error(errorMessage(await r.text(), r.status));
        job = parseJob(await r.text());
      }
      setStatus(`job ${job.id}: ${job.phase}`);
      await finishJob(job, jobUrl, started);
    } catch (e) {
      showError(e.message || String(e));
      setStatus("failed");
    } finally {
      state.job = null;
      $("cancel").disabled = true;
      setBusy(false);
      refreshJobs();
    }
  }

  // Shows what a finished job produced: its result table or its error.
  async function finishJob(job, jobUrl, started) {
    if (job.phase === "COMPLETED") {
      const first = job.results[0];
      const fallback = `${jobUrl}/results/${encodeURIComponent((first && first.id) || "result")}`;
      const url = first && first.href ? sameOrigin(first.href, fallback) : fallback;
      const r = await fetch(url);
      const text = await r.text();
      if (!r.ok) throw new Error(errorMessage(text, r.status));
      const result = parseVotable(text);
      const ms = started ? `, ${Math.round(performance.now() - started)} ms` : "";
      showResult(result, `async job ${job.id}${ms}`);
    } else if (job.phase === "ERROR") {
      const r = await fetch(`${jobUrl}/error`);
      const text = await r.text();
      showError(r.ok ? errorMessage(text, r.status) : job.error || "the job failed");
    } else {
      showError(`job ${job.id} is ${job.phase}`);
    }
  }

  async function abortJob() {
    if (!state.job) return;
    const body = new URLSearchParams({ PHASE: "ABORT" });
    await fetch(`${state.job}/phase`, { method: "POST", body });
  }

  // ---------------------------------------------------------------- job list

  async function refreshJobs() {
    const body = $("jobs").tBodies[0];
    try {
      const r = await fetch(`${MOUNT}/async`);
      const text = await r.text();
      if (!r.ok) throw new Error(errorMessage(text, r.status));
      const doc = parseXml(text);
      const refs = byTag(doc, "jobref");
      body.replaceChildren();
      if (refs.length === 0) {
        const tr = body.insertRow();
        const td = tr.insertCell();
        td.colSpan = 4;
        td.textContent = "No jobs.";
      }
      for (const ref of refs) {
        const id = ref.getAttribute("id") || "";
        const phase = (byTag(ref, "phase")[0] || { textContent: "" }).textContent.trim();
        const created = (byTag(ref, "creationTime")[0] || { textContent: "" }).textContent.trim();
        const url = `${MOUNT}/async/${encodeURIComponent(id)}`;
        const tr = body.insertRow();
        tr.dataset.job = id;
        const a = document.createElement("a");
        a.href = url;
        a.textContent = id;
        tr.insertCell().append(a);
        const ph = tr.insertCell();
        ph.textContent = phase;
        ph.className = `phase-${phase}`;
        tr.insertCell().textContent = created;
        const actions = tr.insertCell();
        if (phase === "COMPLETED" || phase === "ERROR") {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = phase === "COMPLETED" ? "Show result" : "Show error";
          b.setAttribute("aria-label", `${b.textContent} of job ${id}`);
          b.addEventListener("click", () => showJob(url));
          actions.append(b);
        }
      }
    } catch (e) {
      body.replaceChildren();
      const td = body.insertRow().insertCell();
      td.colSpan = 4;
      td.textContent = `Could not list jobs: ${e.message || e}`;
    }
  }

  async function showJob(url) {
    clearError();
    try {
      const r = await fetch(url);
      const text = await r.text();
      if (!r.ok) throw new Error(errorMessage(text, r.status));
      const job = parseJob(text);
      // The job's own query back into the editor, so downloads and reruns match.
      const doc = parseXml(text);
      const q = byTag(doc, "parameter").find(
        (p) => (p.getAttribute("id") || "").toLowerCase() === "query",
      );
      if (q) $("editor").value = q.textContent;
      await finishJob(job, url, null);
    } catch (e) {
      showError(e.message || String(e));
    }
  }

  // ---------------------------------------------------------------- results

  function showResult(result, how) {
    state.result = result;
    state.page = 0;
    const n = result.rows.length;
    const table = $("results");
    table.dataset.rows = String(n);
    let summary = `${n} row${n === 1 ? "" : "s"}, ${result.fields.length} columns (${how}).`;
    if (result.overflow) summary += " The result was truncated at MAXREC.";
    $("summary").textContent = summary;
    setStatus(`done: ${n} rows`);
    renderHeader();
    renderPage();
    renderDownloads();
    plot();
  }

  function renderHeader() {
    const head = $("results").tHead;
    head.replaceChildren();
    const tr = head.insertRow();
    for (const f of state.result.fields) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = f.name;
      if (f.unit) {
        const u = document.createElement("span");
        u.className = "unit";
        u.textContent = ` [${f.unit}]`;
        th.append(u);
      }
      th.title = [f.datatype + (f.arraysize ? `[${f.arraysize}]` : ""), f.ucd, f.description]
        .filter(Boolean)
        .join("\n");
      tr.append(th);
    }
  }

  function pageCount() {
    const n = state.result ? state.result.rows.length : 0;
    return Math.max(1, Math.ceil(n / state.pageSize));
  }

  function renderPage() {
    const body = $("results").tBodies[0];
    const frag = document.createDocumentFragment();
    const { fields, rows } = state.result;
    const start = state.page * state.pageSize;
    const end = Math.min(rows.length, start + state.pageSize);
    for (let r = start; r < end; r++) {
      const tr = document.createElement("tr");
      const row = rows[r];
      for (let c = 0; c < fields.length; c++) {
        const td = document.createElement("td");
        const v = row[c];
        if (v === null) {
          td.textContent = "NULL";
          td.className = "null";
        } else {
          td.textContent = v;
          if (fields[c].numeric) td.className = "num";
        }
        tr.append(td);
      }
      frag.append(tr);
    }
    body.replaceChildren(frag);
    const pages = pageCount();
    $("pager").hidden = rows.length <= state.pageSize && state.page === 0;
    $("page-info").textContent = rows.length
      ? `rows ${start + 1}–${end} of ${rows.length} (page ${state.page + 1} of ${pages})`
      : "no rows";
    $("first-page").disabled = $("prev-page").disabled = state.page === 0;
    $("next-page").disabled = $("last-page").disabled = state.page >= pages - 1;
  }

  function goPage(p) {
    if (!state.result) return;
    state.page = Math.max(0, Math.min(pageCount() - 1, p));
    renderPage();
  }

  function renderDownloads() {
    const links = $("download-links");
    links.replaceChildren();
    for (const f of FORMATS) {
      const a = document.createElement("a");
      a.href = `${MOUNT}/sync?${queryParams(f.value)}`;
      a.textContent = f.label;
      a.download = `result.${f.ext}`;
      a.dataset.format = f.value;
      links.append(a);
    }
    $("downloads").hidden = false;
  }

  // ---------------------------------------------------------------- sky plot

  const RAD = Math.PI / 180;
  // Up to this many points are drawn one by one; more become a density map.
  const SCATTER_MAX = 5000;

  function positionColumns(fields) {
    const find = (ucd, names) => {
      const withUcd = fields
        .map((f, i) => ({ f, i }))
        .filter(({ f }) => f.ucd.toLowerCase().split(";").includes(ucd));
      const main = withUcd.find(({ f }) => f.ucd.toLowerCase().includes("meta.main"));
      if (main) return main.i;
      if (withUcd.length) return withUcd[0].i;
      return fields.findIndex((f) => names.includes(f.name.toLowerCase()));
    };
    const ra = find("pos.eq.ra", ["ra", "ra_icrs", "raj2000", "ra_deg"]);
    const dec = find("pos.eq.dec", ["dec", "de", "dec_icrs", "dej2000", "dec_deg"]);
    return ra >= 0 && dec >= 0 ? { ra, dec } : null;
  }

  // Hammer-Aitoff: equal-area, RA increasing to the left, centred on RA 0.
  function hammer(ra, dec) {
    let l = ra * RAD;
    if (l > Math.PI) l -= 2 * Math.PI;
    const b = dec * RAD;
    const z = Math.sqrt(1 + Math.cos(b) * Math.cos(l / 2));
    return [(-2 * Math.SQRT2 * Math.cos(b) * Math.sin(l / 2)) / z, (Math.SQRT2 * Math.sin(b)) / z];
  }

  // Lambert azimuthal equal-area about (ra0, dec0), east to the left.
  function lambert(ra0, dec0) {
    const s0 = Math.sin(dec0 * RAD);
    const c0 = Math.cos(dec0 * RAD);
    return (ra, dec) => {
      const d = (ra - ra0) * RAD;
      const s = Math.sin(dec * RAD);
      const c = Math.cos(dec * RAD);
      const cosc = s0 * s + c0 * c * Math.cos(d);
      const k = Math.sqrt(2 / Math.max(1e-12, 1 + cosc));
      return [-k * c * Math.sin(d), k * (c0 * s - s0 * c * Math.cos(d))];
    };
  }

  function plot() {
    const canvas = $("sky");
    const ctx = canvas.getContext("2d");
    const W = canvas.width;
    const H = canvas.height;
    ctx.fillStyle = "#0b1020";
    ctx.fillRect(0, 0, W, H);
    canvas.dataset.points = "0";
    canvas.dataset.projection = "";
    const result = state.result;
    const cols = result && positionColumns(result.fields);
    if (!cols) {
      $("plot-info").textContent = "No positions to plot (no pos.eq.ra/dec or ra/dec columns).";
      return;
    }
    const pts = [];
    for (const row of result.rows) {
      if (row[cols.ra] === null || row[cols.dec] === null) continue;
      const ra = parseFloat(row[cols.ra]);
      const dec = parseFloat(row[cols.dec]);
      if (Number.isFinite(ra) && Number.isFinite(dec) && dec >= -90 && dec <= 90) {
        pts.push([((ra % 360) + 360) % 360, dec]);
      }
    }
    if (pts.length === 0) {
      $("plot-info").textContent = "No rows with a position.";
      return;
    }
    // Mean direction and the largest distance from it decide the automatic projection.
    let x = 0, y = 0, z = 0;
    for (const [ra, dec] of pts) {
      x += Math.cos(dec * RAD) * Math.cos(ra * RAD);
      y += Math.cos(dec * RAD) * Math.sin(ra * RAD);
      z += Math.sin(dec * RAD);
    }
    const norm = Math.hypot(x, y, z);
    const ra0 = norm > 0 ? ((Math.atan2(y, x) / RAD) + 360) % 360 : 0;
    const dec0 = norm > 0 ? Math.asin(z / norm) / RAD : 0;
    let spread = 0;
    for (const [ra, dec] of pts) {
      const cosd =
        Math.sin(dec * RAD) * Math.sin(dec0 * RAD) +
        Math.cos(dec * RAD) * Math.cos(dec0 * RAD) * Math.cos((ra - ra0) * RAD);
      spread = Math.max(spread, Math.acos(Math.max(-1, Math.min(1, cosd))) / RAD);
    }
    let mode = $("projection").value;
    if (mode === "auto") mode = spread < 30 ? "field" : "allsky";

    let project, toPixel;
    if (mode === "allsky") {
      project = hammer;
      const s = Math.min((W - 20) / (4 * Math.SQRT2), (H - 20) / (2 * Math.SQRT2));
      toPixel = (p) => [W / 2 + p[0] * s, H / 2 - p[1] * s];
    } else {
      project = lambert(ra0, dec0);
      // Scale so the farthest point fits, with a margin; at least a tenth of a degree across.
      const r = Math.max(0.05, spread * 1.1) * RAD;
      const k = 2 * Math.sin(r / 2);
      const s = Math.min(W, H) / 2 / k;
      toPixel = (p) => [W / 2 + p[0] * s, H / 2 - p[1] * s];
    }

    drawGrid(ctx, mode, project, toPixel, W, H);

    if (pts.length <= SCATTER_MAX) {
      ctx.fillStyle = "#ffcc33";
      for (const [ra, dec] of pts) {
        const [px, py] = toPixel(project(ra, dec));
        ctx.fillRect(Math.round(px) - 1, Math.round(py) - 1, 3, 3);
      }
    } else {
      // Density map: counts per pixel of an equal-area projection are counts per solid angle.
      const counts = new Uint32Array(W * H);
      let max = 0;
      for (const [ra, dec] of pts) {
        const [px, py] = toPixel(project(ra, dec));
        const i = Math.floor(py) * W + Math.floor(px);
        if (px >= 0 && px < W && py >= 0 && py < H) max = Math.max(max, ++counts[i]);
      }
      const img = ctx.getImageData(0, 0, W, H);
      const lmax = Math.log1p(max);
      for (let i = 0; i < counts.length; i++) {
        if (!counts[i]) continue;
        const t = Math.log1p(counts[i]) / lmax;
        img.data[4 * i] = Math.round(90 + 165 * t);
        img.data[4 * i + 1] = Math.round(50 + 190 * t);
        img.data[4 * i + 2] = Math.round(40 + 40 * t);
        img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    canvas.dataset.points = String(pts.length);
    canvas.dataset.projection = mode;
    const where =
      mode === "allsky"
        ? "all sky, Hammer-Aitoff, RA 0 at the centre, east to the left"
        : `field of ${(2 * Math.max(0.05, spread * 1.1)).toFixed(2)}° around RA ${ra0.toFixed(3)}, Dec ${dec0.toFixed(3)}, Lambert equal-area, east to the left`;
    $("plot-info").textContent = `${pts.length} positions (${result.fields[cols.ra].name}, ${result.fields[cols.dec].name}); ${where}.`;
    canvas.setAttribute("aria-label", `Sky plot of ${pts.length} positions; ${where}`);
  }

  function drawGrid(ctx, mode, project, toPixel, W, H) {
    ctx.strokeStyle = "#33415c";
    ctx.lineWidth = 1;
    const line = (points) => {
      ctx.beginPath();
      let started = false;
      let last = null;
      for (const [ra, dec] of points) {
        const p = toPixel(project(ra, dec));
        // Break lines that jump across the map (wrap-around) or leave the canvas.
        if (!started || (last && Math.hypot(p[0] - last[0], p[1] - last[1]) > W / 4)) {
          ctx.moveTo(p[0], p[1]);
          started = true;
        } else {
          ctx.lineTo(p[0], p[1]);
        }
        last = p;
      }
      ctx.stroke();
    };
    if (mode === "allsky") {
      for (let dec = -60; dec <= 60; dec += 30) {
        const pts = [];
        for (let ra = 180.001; ra <= 539.999; ra += 2) pts.push([ra % 360, dec]);
        line(pts);
      }
      for (let ra = 0; ra < 360; ra += 30) {
        const pts = [];
        for (let dec = -90; dec <= 90; dec += 2) pts.push([ra === 180 ? 179.999 : ra, dec]);
        line(pts);
      }
      // The outline: both halves of the RA 180 meridian.
      for (const ra of [179.999, 180.001]) {
        const pts = [];
        for (let dec = -90; dec <= 90; dec += 1) pts.push([ra, dec]);
        line(pts);
      }
    } else {
      ctx.beginPath();
      ctx.moveTo(W / 2 - 6, H / 2);
      ctx.lineTo(W / 2 + 6, H / 2);
      ctx.moveTo(W / 2, H / 2 - 6);
      ctx.lineTo(W / 2, H / 2 + 6);
      ctx.stroke();
    }
  }

  // ---------------------------------------------------------------- examples

  async function loadExamples() {
    const select = $("example");
    try {
      const r = await fetch(`${MOUNT}/examples`);
      const text = await r.text();
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      let doc = new DOMParser().parseFromString(text, "application/xhtml+xml");
      if (doc.getElementsByTagName("parsererror").length > 0) {
        doc = new DOMParser().parseFromString(text, "text/html");
      }
      const queries = Array.from(doc.querySelectorAll('[property="query"]'));
      select.replaceChildren(new Option("Choose an example…", ""));
      queries.forEach((q, i) => {
        const holder = q.closest("[typeof], [resource], [id]") || q.parentElement;
        const nameEl = holder && holder.querySelector('[property="name"]');
        const name = (nameEl ? nameEl.textContent : "") || (holder && holder.id) || `example ${i + 1}`;
        const opt = new Option(name.trim(), String(i));
        opt.dataset.query = q.textContent.trim();
        select.append(opt);
      });
      select.dataset.count = String(queries.length);
    } catch (e) {
      select.replaceChildren(new Option(`examples unavailable (${e.message || e})`, ""));
    }
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    $("run-sync").addEventListener("click", runSync);
    $("run-async").addEventListener("click", runAsync);
    $("cancel").addEventListener("click", abortJob);
    $("refresh-jobs").addEventListener("click", refreshJobs);
    $("editor").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        runSync();
      }
    });
    $("example").addEventListener("change", (e) => {
      const opt = e.target.selectedOptions[0];
      if (opt && opt.dataset.query) {
        $("editor").value = opt.dataset.query;
        clearError();
      }
    });
    $("first-page").addEventListener("click", () => goPage(0));
    $("prev-page").addEventListener("click", () => goPage(state.page - 1));
    $("next-page").addEventListener("click", () => goPage(state.page + 1));
    $("last-page").addEventListener("click", () => goPage(pageCount() - 1));
    $("page-size").addEventListener("change", (e) => {
      state.pageSize = parseInt(e.target.value, 10) || 100;
      goPage(0);
    });
    $("projection").addEventListener("change", () => state.result && plot());
    plot();
    loadExamples();
    refreshJobs();
    document.body.dataset.ready = "true";
  }

  init();
})();
