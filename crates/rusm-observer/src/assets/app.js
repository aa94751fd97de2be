// The observer page. Everything shown comes from the JSON API and goes
// into the document as text (textContent), never as markup: labels, names
// and reasons are the guests' own words.
"use strict";

const state = {
  query: { component: "", profile: "", state: "", sort: "pid", order: "asc", offset: 0, limit: 50 },
  selected: null,
  history: [],
  matched: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  return r;
}

function bytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(v < 10 ? 1 : 0) + " " + units[i];
}

function ms(n) { return n < 1000 ? n + " ms" : (n / 1000).toFixed(1) + " s"; }

function fillSelect(select, values) {
  const current = select.value;
  const wanted = [""].concat(values);
  const have = Array.from(select.options).map((o) => o.value);
  if (have.join("\u0000") === wanted.join("\u0000")) return;
  select.replaceChildren();
  for (const v of wanted) {
    const o = el("option", v === "" ? "all" : v);
    o.value = v;
    select.appendChild(o);
  }
  select.value = wanted.includes(current) ? current : "";
}

async function refreshTable() {
  const q = new URLSearchParams(state.query);
  const r = await api("/api/processes?" + q.toString());
  if (!r.ok) return;
  const page = await r.json();
  state.matched = page.matched;
  $("live").textContent = page.total;
  const states = $("by-state");
  states.replaceChildren();
  for (const [s, n] of Object.entries(page.by_state)) states.appendChild(el("span", s + " " + n, "pill"));
  const profiles = $("by-profile");
  profiles.replaceChildren();
  for (const [p, n] of Object.entries(page.by_profile)) profiles.appendChild(el("span", p + " " + n, "pill"));
  fillSelect($("filter-component"), page.components.map((c) => c.component).filter((c) => c !== "").sort());
  const knownProfiles = Object.keys(page.by_profile).sort();
  if (state.query.profile && !knownProfiles.includes(state.query.profile)) knownProfiles.push(state.query.profile);
  fillSelect($("filter-profile"), knownProfiles);
  const first = page.matched === 0 ? 0 : page.offset + 1;
  $("matched").textContent = first + "–" + (page.offset + page.rows.length) + " of " + page.matched;
  const body = $("rows").tBodies[0];
  body.replaceChildren();
  for (const row of page.rows) {
    const tr = el("tr");
    tr.dataset.pid = row.pid;
    tr.dataset.component = row.component || "";
    if (row.pid === state.selected) tr.classList.add("selected");
    tr.appendChild(el("td", row.pid));
    tr.appendChild(el("td", row.component || "—"));
    tr.appendChild(el("td", row.profile));
    tr.appendChild(el("td", row.state, "state-" + row.state));
    tr.appendChild(el("td", row.mailbox_len, "num"));
    tr.appendChild(el("td", bytes(row.memory_bytes + row.queued_bytes), "num"));
    tr.appendChild(el("td", ms(row.cpu_ms), "num"));
    tr.appendChild(el("td", row.messages_sent + " / " + row.messages_received, "num"));
    tr.addEventListener("click", () => openDetail(row.pid));
    body.appendChild(tr);
  }
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.query.sort);
    th.classList.toggle("asc", state.query.order === "asc");
  }
}

async function openDetail(pid) {
  state.selected = pid;
  for (const tr of $("rows").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.pid) === pid);
  await refreshDetail();
}

async function refreshDetail() {
  const pid = state.selected;
  if (pid === null) return;
  const section = $("detail");
  section.hidden = false;
  $("detail-pid").textContent = pid;
  const r = await api("/api/processes/" + pid);
  const fields = $("detail-fields");
  if (r.status === 404) {
    fields.replaceChildren();
    $("detail-note").textContent = "process " + pid + " is gone";
    section.dataset.gone = "true";
    $("kill").disabled = true;
    return;
  }
  const d = await r.json();
  section.dataset.gone = "false";
  $("kill").disabled = false;
  $("detail-note").textContent = "";
  const rows = [
    ["component", d.component || "—"], ["label", d.label || "—"], ["profile", d.profile],
    ["capabilities", d.capabilities || "(native)"], ["state", d.state], ["parent", d.parent || "node"],
    ["registered", d.names.join(", ") || "—"], ["links", d.links.join(", ") || "—"],
    ["monitors", d.monitors.join(", ") || "—"], ["monitored by", d.monitored_by.join(", ") || "—"],
    ["trap exit", d.trap_exit ? "yes" : "no"], ["mailbox", d.mailbox_len + " messages"],
    ["memory", bytes(d.memory_bytes)], ["held by the node", bytes(d.queued_bytes)],
    ["CPU", ms(d.cpu_ms)], ["messages", d.messages_sent + " sent, " + d.messages_received + " received"],
    ["children", d.child_count + (d.child_count > d.children.length ? " (first " + d.children.length + ")" : "")],
  ];
  fields.replaceChildren();
  for (const [k, v] of rows) { fields.appendChild(el("dt", k)); fields.appendChild(el("dd", v)); }
}

async function kill() {
  const pid = state.selected;
  if (pid === null) return;
  const r = await api("/api/processes/" + pid + "/kill", { method: "POST" });
  $("detail-note").textContent = r.ok ? "kill sent" : "process " + pid + " is gone";
  await refreshTable();
  await refreshDetail();
}

// ---- the supervision tree, one level at a time ----

async function loadChildren(ul, parent) {
  const r = await api("/api/tree?parent=" + parent);
  if (!r.ok) return;
  const t = await r.json();
  ul.replaceChildren();
  for (const c of t.children) {
    const li = el("li");
    const label = (c.children > 0 ? "▸ " : "• ") + c.pid + " " + (c.component || "—") + " (" + c.profile + ", " + c.state + ")" + (c.children > 0 ? " [" + c.children + "]" : "");
    const span = el("span", label, c.children > 0 ? "" : "leaf");
    span.addEventListener("click", async () => {
      openDetail(c.pid);
      if (c.children === 0) return;
      let sub = li.querySelector("ul");
      if (sub) { sub.remove(); return; }
      sub = el("ul", null, "tree");
      li.appendChild(sub);
      await loadChildren(sub, c.pid);
    });
    li.appendChild(span);
    ul.appendChild(li);
  }
  if (t.total > t.children.length) ul.appendChild(el("li", "… " + (t.total - t.children.length) + " more"));
}

// ---- charts: plain canvas ----

const EXIT_COLORS = { normal: "#1b7f3b", killed: "#e08a00", crashed: "#c62828", failed_to_start: "#7b1fa2", linked: "#00838f", shutdown: "#5a6475" };

function drawSeries(canvas, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  let max = 1;
  for (const s of series) for (const v of s.values) max = Math.max(max, v);
  ctx.fillStyle = "#5a6475";
  ctx.font = "10px system-ui";
  ctx.fillText(String(max), 2, 10);
  const n = Math.max(2, ...series.map((s) => s.values.length));
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = (i / (n - 1)) * (w - 4) + 2;
      const y = h - 2 - (v / max) * (h - 14);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function drawCharts() {
  const last = state.history.slice(-300);
  drawSeries($("chart-spawns"), [{ color: "#2f5bd3", values: last.map((s) => s.spawns) }]);
  drawSeries($("chart-exits"), Object.keys(EXIT_COLORS).map((k) => ({ color: EXIT_COLORS[k], values: last.map((s) => s.exits[k]) })));
  drawSeries($("chart-messages"), [{ color: "#00838f", values: last.map((s) => s.messages) }]);
  drawSeries($("chart-requests"), [{ color: "#7b1fa2", values: last.map((s) => s.requests) }]);
}

async function loadHistory() {
  const r = await api("/api/history");
  if (!r.ok) return;
  state.history = (await r.json()).samples;
  drawCharts();
}

// ---- live updates ----

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { $("status").textContent = "live"; $("status").classList.add("live"); });
  events.addEventListener("error", () => { $("status").textContent = "reconnecting…"; $("status").classList.remove("live"); });
  events.addEventListener("tick", async (e) => {
    const tick = JSON.parse(e.data);
    if (tick.sample && (state.history.length === 0 || state.history[state.history.length - 1].at !== tick.sample.at)) {
      state.history.push(tick.sample);
      if (state.history.length > 600) state.history.shift();
      drawCharts();
    }
    await refreshTable();
    if (state.selected !== null && $("detail").dataset.gone !== "true") await refreshDetail();
  });
}

function setQuery(changes) {
  Object.assign(state.query, changes);
  refreshTable();
}

function init() {
  const legend = $("exit-legend");
  for (const [k, c] of Object.entries(EXIT_COLORS)) { const s = el("span", k); s.style.color = c; legend.appendChild(s); }
  $("filter-component").addEventListener("change", (e) => setQuery({ component: e.target.value, offset: 0 }));
  $("filter-profile").addEventListener("change", (e) => setQuery({ profile: e.target.value, offset: 0 }));
  $("filter-state").addEventListener("change", (e) => setQuery({ state: e.target.value, offset: 0 }));
  $("prev").addEventListener("click", () => setQuery({ offset: Math.max(0, state.query.offset - state.query.limit) }));
  $("next").addEventListener("click", () => {
    if (state.query.offset + state.query.limit < state.matched) setQuery({ offset: state.query.offset + state.query.limit });
  });
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      const same = state.query.sort === th.dataset.sort;
      const numeric = th.classList.contains("num");
      setQuery({ sort: th.dataset.sort, order: same ? (state.query.order === "asc" ? "desc" : "asc") : (numeric ? "desc" : "asc"), offset: 0 });
    });
  }
  $("kill").addEventListener("click", kill);
  $("detail-close").addEventListener("click", () => { state.selected = null; $("detail").hidden = true; refreshTable(); });
  refreshTable();
  loadHistory();
  loadChildren($("tree-root"), 0);
  // The tree's top level follows the node, unless the operator opened a
  // branch (a refresh would fold it away under their cursor).
  setInterval(() => { if (!$("tree-root").querySelector("ul")) loadChildren($("tree-root"), 0); }, 5000);
  connect();
}

document.addEventListener("DOMContentLoaded", init);
