// whytoken viewer: talks to the local server (/api/...), draws the image maps as SVG and the PAG with Cytoscape.js.
"use strict";
(function () {
  const KIND = {image_patch: "#0e7490", prompt_text: "#4338ca", generated: "#b45309", special: "#6b7280"};
  const ROLE = {explaining: "#e11d48", verified: "#f59e0b", candidate: "#2563eb"};
  const HEAT = [[0, [255, 247, 237]], [0.35, [253, 186, 116]], [0.7, [234, 88, 12]], [1, [127, 29, 29]]];
  const $ = (id) => document.getElementById(id);
  const state = {mode: null, trace: null, layers: [], result: null, head: null, cy: null, position: null};
  window.whytoken = state;

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const tokText = (s) => (s.trim() ? s.trim() : (s.includes("\n") ? "⏎" : "␣"));

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }
  function showError(err) { const box = $("error"); box.textContent = err ? String(err.message || err) : ""; box.hidden = !err; }

  async function runJob(job) {
    const box = $("progress"), bar = $("progress-bar");
    box.hidden = false;
    while (true) {
      job = await api(`/api/jobs/${job.id}`);
      $("progress-stage").textContent = job.stage || job.kind;
      if (job.total > 0) { bar.classList.remove("indeterminate"); bar.style.width = `${Math.min(100, 100 * job.done / job.total)}%`; }
      else bar.classList.add("indeterminate");
      $("progress-count").textContent = `${job.total > 0 ? `${job.done} / ${job.total} · ` : ""}${job.seconds.toFixed(1)} s`;
      if (job.state === "done" || job.state === "error") break;
      await new Promise((r) => setTimeout(r, 150));
    }
    box.hidden = true;
    if (job.state === "error") throw new Error(job.error);
    return job.result;
  }

  // ---------------------------------------------------------------- input
  let imageUri = null;
  $("image").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (!file) { imageUri = null; $("preview").hidden = true; return; }
    const reader = new FileReader();
    reader.onload = () => { imageUri = reader.result; $("preview").src = imageUri; $("preview").hidden = false; };
    reader.readAsDataURL(file);
  });
  $("generate").addEventListener("click", async () => {
    showError(null);
    $("generate").disabled = true;
    try {
      const job = await api("/api/generate", {prompt: $("prompt").value || $("prompt").placeholder, image: imageUri,
        max_new_tokens: Number($("max-new").value), chat_template: $("chat-template").checked ? null : false});
      const out = await runJob(job);
      state.trace = out.trace; state.layers = out.layers;
      for (const k of Object.keys(answered)) delete answered[k];
      $("chains").textContent = "";
      renderGenerated(out.generated);
    } catch (err) { showError(err); }
    $("generate").disabled = false;
  });

  function renderGenerated(generated) {
    const box = $("generated");
    box.innerHTML = "";
    for (const g of generated) {
      const b = document.createElement("button");
      b.className = "tok gen-token";
      b.textContent = g.text.replace(/\n/g, "⏎");
      b.dataset.position = g.position;
      b.title = `position ${g.position}, p = ${g.prob.toFixed(3)}: click to explain`;
      b.addEventListener("click", () => explain(g.position, null));
      box.appendChild(b);
    }
    $("tokens-card").hidden = false;
  }

  // every token at once: each token's result is stored; clicking a token then shows it without recomputing
  const answered = {};
  $("explain-all").addEventListener("click", async () => {
    showError(null);
    $("explain-all").disabled = true;
    try {
      const out = await runJob(await api("/api/explain-all", {trace: state.trace, layer: null}));
      for (const t of out.tokens) answered[t.position] = t;
      document.querySelectorAll(".gen-token").forEach((b) => {
        const t = answered[Number(b.dataset.position)];
        b.dataset.status = t ? t.status : "skipped";
        b.title = t ? `${t.status}: click to show` : (out.skipped.find((s) => s[0] === Number(b.dataset.position)) || [0, "not explained"])[1];
      });
      const label = (p) => { const b = document.querySelector(`.gen-token[data-position="${p}"]`); return b ? b.textContent : `@${p}`; };
      $("chains").textContent = out.chains.length
        ? "Chains: " + out.chains.map(([s, t]) => `'${label(s)}' → '${label(t)}'`).join(", ") + " (the first token is in the second's explaining set)"
        : "No token's explanation runs through an earlier generated token.";
      state.chains = out.chains;
      if (out.tokens.length) { state.position = out.tokens[0].position; markSelected(); await showResult(out.tokens[0].result); }
    } catch (err) { showError(err); }
    $("explain-all").disabled = false;
  });

  function markSelected() {
    document.querySelectorAll(".gen-token").forEach((b) => b.classList.toggle("selected", Number(b.dataset.position) === state.position));
  }

  async function explain(position, layer) {
    if (layer === null && answered[position] && answered[position].result) {
      state.position = position; markSelected(); showError(null);
      try { await showResult(answered[position].result); } catch (err) { showError(err); }
      return;
    }
    showError(null);
    state.position = position;
    markSelected();
    try {
      const job = await api("/api/explain", {trace: state.trace, position, layer});
      const rid = await runJob(job);
      await showResult(rid);
    } catch (err) { showError(err); }
  }

  async function showResult(rid) {
    const payload = await api(`/api/results/${rid}`);
    state.result = payload;
    state.head = payload.best_head !== null ? String(payload.best_head) : Object.keys(payload.graphs)[0];
    document.querySelectorAll("#results a").forEach((a) => a.classList.toggle("selected", a.dataset.id === rid));
    $("result").hidden = false;
    $("welcome").hidden = true;
    renderSummary(); renderControls(); renderImage(); renderGraph(); renderSets(); renderHeads(); renderDownloads();
    document.body.dataset.result = rid;
  }

  // ---------------------------------------------------------------- summary and controls
  function renderSummary() {
    const r = state.result, a = r.answer;
    let html = `<h2>Why <span class="tok" style="background:#111827;color:#fff">${esc(r.target.label)}</span>? ` +
      `<span class="pill ${r.status}">${r.status}</span>${a ? ` <span class="pill claim">${esc(a.claim)}</span>` : ""}</h2>`;
    if (r.target_reason) html += `<div class="muted">Target: ${esc(r.target_reason)}</div>`;
    if (a) {
      const shown = a.labels.length > 6 ? a.labels.slice(0, 5) : a.labels;
      const more = a.labels.length > 6 ? ` <span class="muted">+ ${a.labels.length - 5} more</span>` : "";
      html += `<p class="statement">Removing ${shown.map((l) => `<span class="tok explaining">${esc(l)}</span>`).join(" + ")}${more}` +
        ` changes the answer to <span class="tok generated">${esc(tokText(a.new_token || ""))}</span>` +
        ` <span class="muted">(p = ${a.new_prob_text}; ${esc(r.target.label)} falls from ${r.target.prob_text} to ${a.after_text}, effect ${a.effect_text})</span></p>`;
    }
    html += `<div>${esc(r.message)}</div>`;
    const via = (state.chains || []).filter(([src, dst]) => dst === r.target.position).map(([src]) => src);
    if (via.length) html += `<div class="muted">Runs through the generated token(s) at ${via.map((p) => "@" + p).join(", ")}: click them to see their own explanation.</div>`;
    for (const h of r.hints) html += `<div class="muted">Try <code>--${esc(h.parameter.replace(/_/g, "-"))} ${esc(h.value)}</code> (Python <code>${esc(h.parameter)}=${esc(JSON.stringify(h.value))}</code>)${h.reason ? ": " + esc(h.reason) : ""}</div>`;
    const s = r.search;
    html += `<div class="muted">${s.passes}${s.max_passes ? " / " + s.max_passes : ""} forward passes (exhaustive: ${s.exhaustive}) · ${r.seconds} s · layer ${r.layer} · ${r.heads.length} head(s)</div>`;
    $("summary").innerHTML = html;
  }

  function fillSelect(select, options, value) {
    select.innerHTML = options.map(([v, label]) => `<option value="${esc(v)}"${String(v) === String(value) ? " selected" : ""}>${esc(label)}</option>`).join("");
  }

  function renderControls() {
    const r = state.result;
    const layers = r.layers.length ? r.layers : [r.layer];
    fillSelect($("layer"), layers.map((l) => [l, `layer ${l}`]), r.layer);
    $("layer").disabled = !(state.mode === "model" && r.trace);
    fillSelect($("head"), r.heads.map((h) => [h.head, `head ${h.head}${String(h.head) === String(r.best_head) ? " (best)" : ""}`]), state.head);
    const maps = [["sets", "sets only"]];
    for (const [name, m] of Object.entries(r.maps)) {
      if (name.startsWith("attention:") || name.startsWith("distance:")) continue;
      maps.push([name, m.label]);
    }
    maps.push(["attention:head", "raw attention, this head"], ["distance:head", "PDS distance, this head"]);
    const current = $("map").value || "sets";
    fillSelect($("map"), maps, maps.some(([v]) => v === current) ? current : "sets");
  }
  $("layer").addEventListener("change", () => explain(state.position ?? state.result.target.position, Number($("layer").value)));
  $("head").addEventListener("change", () => { state.head = $("head").value; renderImage(); renderGraph(); renderHeads(); });
  $("map").addEventListener("change", renderImage);
  $("edges").addEventListener("change", applyEdgeFilter);
  $("fit").addEventListener("click", () => state.cy && state.cy.fit(undefined, 30));
  $("search").addEventListener("input", search);

  // ---------------------------------------------------------------- image panel (SVG, so the DOM tells what is drawn)
  function heat(v) {
    v = Math.max(0, Math.min(1, v));
    for (let i = 1; i < HEAT.length; i++) {
      const [b, cb] = HEAT[i], [a, ca] = HEAT[i - 1];
      if (v <= b) { const t = (v - a) / (b - a); return `rgb(${ca.map((x, k) => Math.round(x + (cb[k] - x) * t)).join(",")})`; }
    }
    return "rgb(127,29,29)";
  }
  function fmt(v) { return v === 0 ? "0" : (Math.abs(v) >= 0.01 ? v.toFixed(3) : v.toExponential(1)); }

  function outline(positions, cells) {
    const chosen = new Set(positions.filter((p) => cells[p]).map((p) => cells[p].patch.join(",")));
    let d = "";
    for (const p of positions) {
      const c = cells[p]; if (!c) continue;
      const [r, k] = c.patch, [x0, y0, x1, y1] = c.box;
      if (!chosen.has(`${r - 1},${k}`)) d += `M${x0},${y0}H${x1}`;
      if (!chosen.has(`${r + 1},${k}`)) d += `M${x0},${y1}H${x1}`;
      if (!chosen.has(`${r},${k - 1}`)) d += `M${x0},${y0}V${y1}`;
      if (!chosen.has(`${r},${k + 1}`)) d += `M${x1},${y0}V${y1}`;
    }
    return d;
  }

  function renderImage() {
    const r = state.result;
    const cells = {};
    for (const t of r.tokens) if (t.patch && t.box) cells[t.position] = t;
    const panel = $("image-panel"), legend = $("image-legend");
    const noImage = !Object.keys(cells).length || !r.image_size;
    $("image-card").hidden = noImage;
    document.querySelector(".panes").classList.toggle("no-image", noImage);
    if (noImage) return;
    const [w, h] = r.image_size, scale = w / 420;
    let choice = $("map").value || "sets";
    if (choice === "attention:head") choice = `attention:${state.head}`;
    if (choice === "distance:head") choice = `distance:${state.head}`;
    const map = r.maps[choice];
    let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" data-map="${esc(choice)}">`;
    svg += r.image ? `<image href="${r.image}" x="0" y="0" width="${w}" height="${h}" preserveAspectRatio="none"/>` : `<rect width="${w}" height="${h}" fill="#e5e7eb"/>`;
    let legendHtml = "";
    if (map) {
      const vals = Object.values(map.values);
      const lo = Math.min(...vals, 0), hi = Math.max(...vals, 0), span = hi - lo || 1;
      svg += `<g class="heat">`;
      for (const [p, c] of Object.entries(cells)) {
        const raw = map.values[p];
        let v = raw === undefined ? 0 : (raw - lo) / span;
        if (map.reverse) v = raw === undefined ? 0 : 1 - 0.8 * (raw - Math.max(lo, 1)) / Math.max(hi - Math.max(lo, 1), 1);
        const [x0, y0, x1, y1] = c.box;
        svg += `<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="${heat(v)}" fill-opacity="${(0.12 + 0.75 * v).toFixed(2)}" data-position="${p}"></rect>`;
      }
      svg += `</g>`;
      legendHtml += map.reverse ? `<span>${esc(map.label)}: darker = closer; unshaded = outside the PDS range</span>`
        : `<span>${fmt(lo)}<i class="ramp"></i>${fmt(hi)} · ${esc(map.label)}</span>`;
    }
    const roles = [["candidate", r.sets.filter((s) => s.role === "candidate").slice(0, 1)],
                   ["verified", r.sets.filter((s) => s.role === "verified")], ["explaining", r.sets.filter((s) => s.role === "explaining")]];
    if (r.answer) roles[0][1] = [];
    for (const [role, sets] of roles) {
      for (const s of sets) {
        const d = outline(s.positions, cells);
        if (!d) continue;
        const dash = role === "explaining" ? "" : ` stroke-dasharray="${(role === "verified" ? 6 : 2) * scale} ${3.5 * scale}"`;
        svg += `<path d="${d}" fill="none" stroke="#fff" stroke-width="${5 * scale}" stroke-opacity=".9"/>` +
          `<path class="outline-${role}" data-positions="${s.positions.join(",")}" d="${d}" fill="none" stroke="${ROLE[role]}" stroke-width="${(role === "explaining" ? 3 : 2.2) * scale}"${dash}/>`;
      }
    }
    svg += `</svg>`;
    panel.innerHTML = svg;
    panel.querySelectorAll("rect[data-position]").forEach((el) => {
      const p = el.dataset.position, t = cells[p];
      el.addEventListener("mousemove", (ev) => tooltip(ev, `${t.label} (position ${p})\n${map ? `${map.label}: ${fmt(map.values[p] ?? NaN)}` : ""}`));
      el.addEventListener("mouseleave", () => tooltip(null));
    });
    if (r.answer) legendHtml += `<span><i style="border:3px solid ${ROLE.explaining}"></i>explaining set</span>`;
    if (r.sets.some((s) => s.role === "verified")) legendHtml += `<span><i style="border:2px dashed ${ROLE.verified}"></i>other verified sets</span>`;
    if (!r.answer && r.sets.some((s) => s.role === "candidate")) legendHtml += `<span><i style="border:2px dotted ${ROLE.candidate}"></i>best graph candidate (not verified)</span>`;
    legend.innerHTML = legendHtml;
    $("image-title").textContent = `Image · ${Object.keys(cells).length} patches${r.patch_grid ? ` (${r.patch_grid[0]} × ${r.patch_grid[1]})` : ""}`;
  }

  // ---------------------------------------------------------------- graph (Cytoscape.js)
  const ARROW = {">": "triangle", "o": "circle", "-": "none"};
  function renderGraph() {
    const r = state.result, g = r.graphs[state.head];
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    if (!g) { $("graph").dataset.nodes = "0"; return; }
    const big = g.edges.length > 1500;
    const elements = g.nodes.map((n) => ({group: "nodes", data: n.data, position: n.position, classes: [n.data.kind, n.data.role, n.data.target ? "target" : "", n.data.depth === null ? "far" : ""].join(" ")}))
      .concat(g.edges.map((e) => ({group: "edges", data: {...e.data, sa: ARROW[e.data.marks[0]], ta: ARROW[e.data.marks[1]]}, classes: (e.data.focus ? "focus" : "plain") + (e.data.arc && (e.data.focus || !big) ? " arc" : "")})));
    const cy = cytoscape({
      container: $("graph"), elements, layout: {name: "preset"}, minZoom: 0.05, maxZoom: 6,
      hideEdgesOnViewport: big, textureOnViewport: big, pixelRatio: big ? 1 : "auto", motionBlur: false,
      style: [
        {selector: "node", style: {"background-color": (n) => KIND[n.data("kind")] || "#6b7280", "label": "data(label)", "font-size": 9,
          "color": "#111827", "text-valign": "bottom", "text-margin-y": 2, "width": 18, "height": 18, "min-zoomed-font-size": 7}},
        {selector: "node.image_patch", style: {"shape": "round-rectangle", "width": 22, "height": 22, "label": "", "opacity": 0.85}},
        {selector: "node.prompt_text, node.generated, node.special", style: {"shape": "round-rectangle",
          "width": (n) => Math.max(22, 6.5 * String(n.data("label")).length + 10), "height": 20,
          "text-valign": "center", "color": "#fff", "font-size": 10, "text-margin-y": 0}},
        {selector: "node.far", style: {"opacity": 0.35}},
        {selector: "node.target", style: {"background-color": "#111827", "height": 32,
          "width": (n) => Math.max(40, 7.6 * String(n.data("label")).length + 16), "font-size": 12, "text-valign": "center", "color": "#fff", "opacity": 1}},
        {selector: "node.explaining", style: {"border-width": 4, "border-color": ROLE.explaining, "opacity": 1, "z-index": 9}},
        {selector: "node.verified", style: {"border-width": 3, "border-color": ROLE.verified, "opacity": 1}},
        {selector: "node.candidate", style: {"border-width": 2, "border-color": ROLE.candidate}},
        {selector: "node.match", style: {"border-width": 5, "border-color": "#16a34a", "opacity": 1, "z-index": 10}},
        {selector: "edge.plain", style: {"curve-style": "haystack", "haystack-radius": 0, "width": 0.6, "line-color": "#94a3b8", "opacity": 0.25}},
        {selector: "edge.focus", style: {"curve-style": "straight", "width": 1.4, "line-color": "#475569", "opacity": 0.85,
          "source-arrow-shape": "data(sa)", "target-arrow-shape": "data(ta)", "source-arrow-color": "#475569", "target-arrow-color": "#475569",
          "source-arrow-fill": (e) => (e.data("sa") === "circle" ? "hollow" : "filled"), "target-arrow-fill": (e) => (e.data("ta") === "circle" ? "hollow" : "filled"),
          "arrow-scale": 0.8}},
        {selector: "edge.arc", style: {"curve-style": "unbundled-bezier", "control-point-distances": "data(arc)", "control-point-weights": 0.5}},
        {selector: "edge.hover", style: {"line-color": "#16a34a", "opacity": 1, "width": 2.5}},
      ],
    });
    cy.edges().filter((e) => {
      const s = e.source(), t = e.target();
      return (s.hasClass("explaining") && t.hasClass("target")) || (t.hasClass("explaining") && s.hasClass("target"));
    }).style({"line-color": ROLE.explaining, "source-arrow-color": ROLE.explaining, "target-arrow-color": ROLE.explaining, "width": 3});
    cy.on("mouseover", "node", (ev) => {
      const d = ev.target.data();
      tooltip(ev.originalEvent, `${d.label}${d.target ? " (target)" : ""}\nposition ${d.position} · ${d.kind.replace("_", " ")}` +
        `${d.patch ? ` · grid cell ${d.patch.join(",")}` : ""}\nPDS distance: ${d.depth === null || d.depth === undefined ? "outside the range" : d.depth}` +
        `${d.role ? `\nmember of ${d.role === "explaining" ? "the explaining set" : d.role === "verified" ? "another verified set" : "an unverified candidate"}` : ""}` +
        `\n${ev.target.degree()} edge(s)`);
    });
    cy.on("mouseover", "edge", (ev) => {
      const e = ev.target; e.addClass("hover");
      tooltip(ev.originalEvent, `${e.source().data("label")} ${e.data("symbol")} ${e.target().data("label")}\nmarks: ${e.data("marks")[0]} at ${e.source().data("label")}, ${e.data("marks")[1]} at ${e.target().data("label")}`);
    });
    cy.on("mouseout", "node, edge", (ev) => { ev.target.removeClass("hover"); tooltip(null); });
    state.cy = cy;
    applyEdgeFilter();
    cy.fit(undefined, 30);
    $("graph").dataset.nodes = String(cy.nodes().length);
    $("graph").dataset.edges = String(cy.edges().length);
    const head = r.heads.find((h) => String(h.head) === String(state.head));
    $("graph-title").textContent = `Causal graph · head ${state.head}: ${head.nodes} tokens, ${head.edges} edges (${head.method})`;
    $("graph-legend").innerHTML = Object.entries({image_patch: "image patch", prompt_text: "prompt word", generated: "generated", special: "special"})
      .map(([k, l]) => `<span><i style="background:${KIND[k]}"></i>${l}</span>`).join("") +
      `<span><i style="background:#111827"></i>target</span>` +
      (r.answer ? `<span><i style="border:3px solid ${ROLE.explaining}"></i>explaining set</span>` : "") +
      `<span class="muted">${r.patch_grid ? "patches sit on their grid cells, text below" : "tokens in reading order, edges as arcs"}; faded: outside the PDS range. Edges of the target and the sets carry their marks (arrowhead, open circle, tail); the others are drawn thin. Scroll to zoom, drag to pan, hover for details.</span>`;
  }

  function applyEdgeFilter() {
    if (!state.cy) return;
    const focusOnly = $("edges").value === "focus";
    state.cy.edges(".plain").style("display", focusOnly ? "none" : "element");
  }

  function search() {
    const cy = state.cy; if (!cy) return;
    cy.nodes().removeClass("match");
    const q = $("search").value.trim().toLowerCase();
    if (!q) return;
    const at = q.startsWith("@") ? Number(q.slice(1)) : null;
    const hits = cy.nodes().filter((n) => (at !== null ? n.data("position") === at : String(n.data("label")).toLowerCase().includes(q)));
    hits.addClass("match");
    if (hits.length === 1) cy.animate({center: {eles: hits}, zoom: Math.max(cy.zoom(), 1.6), duration: 250});
    else if (hits.length) cy.animate({fit: {eles: hits, padding: 80}, duration: 250});
    $("search").title = `${hits.length} match(es)`;
  }

  function tooltip(ev, text) {
    const tip = $("tooltip");
    if (!ev) { tip.hidden = true; return; }
    tip.textContent = text; tip.hidden = false;
    tip.style.left = `${ev.clientX + 14}px`; tip.style.top = `${ev.clientY + 14}px`;
  }

  // ---------------------------------------------------------------- tables and downloads
  function renderSets() {
    const r = state.result;
    const rows = r.sets.filter((s) => s.role !== "candidate");
    const cands = r.sets.filter((s) => s.role === "candidate");
    let html = "";
    if (rows.length) {
      html += `<table><thead><tr><th>#</th><th>members (position · p-value)</th><th>checked</th><th>new top token</th><th class="num">p(target) after</th><th class="num">effect</th></tr></thead><tbody>`;
      rows.forEach((s, i) => {
        html += `<tr><td>${i + 1}</td><td>${s.labels.map((l, k) => `<span class="tok ${s.role}">${esc(l)}</span> <span class="muted">@${s.positions[k]} · p=${s.log10_p[k] === null ? "–" : fmtLogP(s.log10_p[k])}</span>`).join("<br>")}</td>` +
          `<td>${esc(s.claim)}</td><td>${s.new_token === null ? "–" : `<span class="tok generated">${esc(tokText(s.new_token))}</span>`}</td><td class="num">${s.after_text}</td><td class="num">${s.effect_text}</td></tr>`;
      });
      html += `</tbody></table>`;
    } else html += `<p>${esc(r.message)}</p>`;
    if (cands.length) {
      const shown = cands.slice(0, 12);
      html += `<details${rows.length ? "" : " open"}><summary>${r.n_candidates} candidate set(s) proposed by the graphs, not verified on the model${shown.length < r.n_candidates ? ` (the first ${shown.length})` : ""}</summary><table class="candidates"><tbody>`;
      shown.forEach((s, i) => { html += `<tr><td>${i + 1}</td><td>${s.labels.map((l) => `<span class="tok candidate">${esc(l)}</span>`).join(" ")}</td></tr>`; });
      html += `</tbody></table></details>`;
    }
    $("sets").innerHTML = html;
    $("sets-note").textContent = `p-value: ${r.p_meaning}`;
  }
  function fmtLogP(lp) {
    if (lp >= -2) { const p = Math.pow(10, lp); return p >= 0.1 ? p.toFixed(2) : p.toFixed(3); }
    if (lp <= -308) return "<1e-308";
    const e = Math.floor(lp); return `${Math.pow(10, lp - e).toFixed(0)}e${e}`;
  }

  function renderHeads() {
    const r = state.result;
    let html = `<table><thead><tr><th>head</th><th class="num">tokens</th><th class="num">edges</th><th class="num">CI tests</th><th class="num">learn (s)</th><th class="num">in PDS range</th><th class="num">answer members in its tree</th></tr></thead><tbody>`;
    for (const h of r.heads) {
      html += `<tr data-head="${h.head}" class="${String(h.head) === String(state.head) ? "selected" : ""}"><td>${h.head}${String(h.head) === String(r.best_head) ? " <span class='muted'>(best)</span>" : ""}</td>` +
        `<td class="num">${h.nodes}</td><td class="num">${h.edges}</td><td class="num">${h.tests}</td><td class="num">${h.seconds.toFixed(2)}</td><td class="num">${h.in_range}</td><td class="num">${h.answer_in_tree ?? "–"}</td></tr>`;
    }
    $("heads").innerHTML = html + "</tbody></table>";
    $("heads").querySelectorAll("tr[data-head]").forEach((tr) => tr.addEventListener("click", () => {
      state.head = tr.dataset.head; $("head").value = state.head; renderImage(); renderGraph(); renderHeads();
    }));
  }

  function renderDownloads() {
    const id = state.result.id;
    $("downloads").innerHTML = `<h2>Downloads</h2>` + ["explanation.json", "graph.json", "graph.graphml", "report.html"]
      .map((n) => `<a href="/api/results/${id}/${n}" download="${n}">${n}</a>`).join("");
  }

  // ---------------------------------------------------------------- start
  async function start() {
    try {
      const s = await api("/api/state");
      state.mode = s.mode;
      $("meta").textContent = s.mode === "model" ? `model ${s.model} · click a generated token to explain it` : "saved results (no model loaded)";
      $("input-card").hidden = s.mode !== "model";
      if (s.results.length) {
        $("saved-card").hidden = false;
        $("results").innerHTML = s.results.map((r) => `<li><a data-id="${r.id}">${esc(r.title)}</a> <span class="muted">${r.status}</span></li>`).join("");
        $("results").querySelectorAll("a").forEach((a) => a.addEventListener("click", () => showResult(a.dataset.id).catch(showError)));
        if (s.mode === "open") await showResult(s.results[0].id);
      }
    } catch (err) { showError(err); }
  }
  start();
})();
