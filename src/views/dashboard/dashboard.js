// The tagstream dashboard: the current top-K as horizontal bars, the trending tags (rising
// against their own usual level), the rank of each tag over the last windows, and the
// engine's counters. Windows arrive by SSE (/api/events); the counters are polled from
// /metrics. No libraries: plain DOM and SVG.
"use strict";

const HISTORY = 30; // windows shown in the rank-over-time view
const PALETTE = ["#4cc2ff", "#ff9f43", "#3ddc84", "#ff6b9a", "#b18cff", "#ffd166",
  "#06d6a0", "#f4845f", "#7aa2ff", "#e5e059", "#5ce1e6", "#ff8fab"];
const SVG = "http://www.w3.org/2000/svg";

let history = []; // windows, oldest first
const colors = new Map();
const barEls = new Map();
const trendEls = new Map();

// What the browser test reads: receipt time minus window end, per window (ms).
window.__latencies = [];
window.__windowsSeen = 0;

// A new tag gets a palette colour no tag of the latest window has, so the bars on screen
// never share one (a hash of the tag when all are taken).
function colorOf(tag) {
  if (!colors.has(tag)) {
    const latest = history[history.length - 1];
    const used = new Set((latest ? latest.top : []).map((r) => colors.get(r.hashtag)));
    let c = PALETTE.find((p) => !used.has(p));
    if (!c) {
      let h = 0;
      for (const ch of tag) h = (h * 31 + ch.codePointAt(0)) >>> 0;
      c = PALETTE[h % PALETTE.length];
    }
    colors.set(tag, c);
  }
  return colors.get(tag);
}

const fmtInt = (n) => Number(n).toLocaleString("en-US");
function fmtBytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
const timeOf = (iso) => iso.replace("T", " ").replace("Z", "");
const clock = (iso) => iso.slice(11, 19);

// Adds a window in end order (the history fetch and the event stream may overlap); true if it
// is now the latest.
function addWindow(w) {
  const end = Date.parse(w.window_end);
  if (history.some((h) => Date.parse(h.window_end) === end)) return false;
  history.push(w);
  history.sort((a, b) => Date.parse(a.window_end) - Date.parse(b.window_end));
  if (history.length > HISTORY) history = history.slice(-HISTORY);
  return history[history.length - 1] === w;
}

function renderBars(w) {
  const box = document.getElementById("bars");
  const max = w.top.reduce((m, r) => Math.max(m, r.count), 0) || 1;
  const keep = new Set();
  for (const r of w.top) {
    let el = barEls.get(r.hashtag);
    if (!el) {
      el = document.createElement("div");
      el.className = "bar";
      el.innerHTML = '<span class="rank"></span><span class="label"></span>' +
        '<span class="track"><span class="fill"></span></span><span class="count"></span>';
      el.querySelector(".label").textContent = r.hashtag;
      el.querySelector(".label").title = r.hashtag;
      el.querySelector(".fill").style.background = colorOf(r.hashtag);
      el.querySelector(".fill").style.width = "0%";
      barEls.set(r.hashtag, el);
    }
    el.dataset.hashtag = r.hashtag;
    el.dataset.count = String(r.count);
    el.dataset.rank = String(r.rank);
    el.querySelector(".rank").textContent = r.rank;
    // Past --max-tags a count is an upper bound: the truth is in [count − error, count].
    el.querySelector(".count").textContent =
      r.error ? `≤${fmtInt(r.count)} (−${fmtInt(r.error)})` : fmtInt(r.count);
    el.title = r.error ? `${r.hashtag}: between ${fmtInt(r.count - r.error)} and ${fmtInt(r.count)}` : "";
    box.appendChild(el); // (re)inserted in rank order
    // Set the width on the next frame so a new bar grows from zero.
    const pct = (100 * r.count / max).toFixed(2) + "%";
    requestAnimationFrame(() => { el.querySelector(".fill").style.width = pct; });
    keep.add(r.hashtag);
  }
  for (const [tag, el] of barEls) {
    if (!keep.has(tag)) { el.remove(); barEls.delete(tag); }
  }
  document.getElementById("bars-empty").style.display = w.top.length ? "none" : "block";
  document.getElementById("top-sub").textContent =
    `${fmtInt(w.tags)} tags · ${fmtInt(w.tagged)} of ${fmtInt(w.records)} records tagged`;
  document.getElementById("window-times").textContent =
    `window ${timeOf(w.window_start)} → ${timeOf(w.window_end)} UTC`;
  document.getElementById("s-distinct").textContent = fmtInt(w.distinct);
  // An approximate window (past --max-tags): heavy-hitter estimates with their guarantee.
  const approx = document.getElementById("top-approx");
  approx.hidden = !w.approx;
  approx.title = w.approx
    ? `Past --max-tags ${fmtInt(w.max_tags)}: counts are upper bounds, each within its error; ` +
      `every tag seen more than ${fmtInt(w.bound)} times is counted`
    : "";
}

function fmtScore(x) {
  if (x >= 1000) return fmtInt(Math.round(x));
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}
const fmtExpected = (x) => (x >= 100 ? fmtInt(Math.round(x)) : Number(x.toFixed(1)).toString());

// The trending list of `w`: score bars (score = (observed − expected)² / expected, observed in
// distinct authors when the input names them, else in posts). A tag that was not in `prev`'s
// list is marked new.
function renderTrends(w, prev) {
  const rows = w.trending || [];
  const box = document.getElementById("trends");
  box.dataset.windowEnd = w.window_end; // which window the panel shows (the browser test)
  const max = rows.reduce((m, r) => Math.max(m, r.score), 0) || 1;
  const before = prev ? new Set((prev.trending || []).map((r) => r.hashtag)) : null;
  const keep = new Set();
  for (const r of rows) {
    let el = trendEls.get(r.hashtag);
    if (!el) {
      el = document.createElement("div");
      el.className = "trend";
      el.innerHTML = '<span class="rank"></span>' +
        '<span class="label"><span class="tag"></span><span class="badge">new</span></span>' +
        '<span class="track"><span class="fill"></span></span>' +
        '<span class="nums"><span class="score"></span><span class="detail"></span></span>';
      el.querySelector(".tag").textContent = r.hashtag;
      el.querySelector(".fill").style.width = "0%";
      trendEls.set(r.hashtag, el);
    }
    const isNew = before !== null && !before.has(r.hashtag);
    const authors = r.authors === null || r.authors === undefined ? null : r.authors;
    Object.assign(el.dataset, {
      hashtag: r.hashtag, rank: String(r.rank), score: String(r.score), count: String(r.count),
      expected: String(r.expected), authors: authors === null ? "" : String(authors),
      new: isNew ? "1" : "0",
    });
    el.classList.toggle("new", isNew);
    el.querySelector(".rank").textContent = r.rank;
    el.querySelector(".score").textContent = fmtScore(r.score);
    const who = authors === null ? `${fmtInt(r.count)} posts`
      : `${fmtInt(authors)} authors · ${fmtInt(r.count)} posts`;
    el.querySelector(".detail").textContent = `${who} · usual ${fmtExpected(r.expected)}`;
    el.title = `${r.hashtag}: score ${r.score}, ${who}, expected ${r.expected}`;
    box.appendChild(el); // (re)inserted in rank order
    const pct = (100 * r.score / max).toFixed(2) + "%";
    requestAnimationFrame(() => { el.querySelector(".fill").style.width = pct; });
    keep.add(r.hashtag);
  }
  for (const [tag, el] of trendEls) {
    if (!keep.has(tag)) { el.remove(); trendEls.delete(tag); }
  }
  document.getElementById("trends-empty").style.display = rows.length ? "none" : "block";
  const by = rows.some((r) => r.authors !== null && r.authors !== undefined)
    ? "distinct authors" : "posts";
  document.getElementById("trends-sub").textContent = rows.length
    ? `against each tag's usual level · by ${by}` : "";
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderRanks() {
  const svg = document.getElementById("ranks");
  const k = Math.max(1, ...history.map((w) => w.top.length));
  // One unit per CSS pixel once the panel is wider than 760 px, so the text keeps its size.
  const W = Math.max(760, Math.round(svg.clientWidth || 0)), left = 34, right = 150;
  const top = 14, rowH = 30;
  const H = top + k * rowH + 30;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const n = history.length;
  // The windows held so far fill the width; it holds HISTORY once the page has run a while.
  const x = (i) => left + (n <= 1 ? 0 : i * (W - left - right) / (n - 1));
  const y = (rank) => top + (rank - 0.5) * rowH;
  for (let r = 1; r <= k; r++) {
    svg.appendChild(el("line", { class: "grid", x1: left, x2: W - right, y1: y(r), y2: y(r) }));
    svg.appendChild(el("text", { class: "axis", x: left - 8, y: y(r) + 4, "text-anchor": "end" }, r));
  }
  if (n) {
    const ticks = [0, Math.floor((n - 1) / 2), n - 1];
    for (const i of new Set(ticks)) {
      svg.appendChild(el("text", { class: "axis", x: x(i), y: H - 8, "text-anchor": "middle" },
        clock(history[i].window_end)));
    }
  }
  // One path per tag; a tag that leaves the top-K breaks its line.
  const tags = new Map();
  history.forEach((w, i) => w.top.forEach((r) => {
    if (!tags.has(r.hashtag)) tags.set(r.hashtag, []);
    tags.get(r.hashtag).push([i, r.rank]);
  }));
  const latest = history[n - 1];
  const current = new Set(latest ? latest.top.map((r) => r.hashtag) : []);
  for (const [tag, pts] of tags) {
    let d = "", prev = -2;
    for (const [i, rank] of pts) {
      d += (i === prev + 1 ? " L" : " M") + x(i).toFixed(1) + " " + y(rank).toFixed(1);
      prev = i;
    }
    const color = colorOf(tag);
    const path = el("path", { class: "tagline", d: d.trim(), stroke: color });
    path.setAttribute("opacity", current.has(tag) ? "1" : "0.25");
    path.appendChild(el("title", {}, tag));
    svg.appendChild(path);
    const [li, lr] = pts[pts.length - 1];
    svg.appendChild(el("circle", { cx: x(li), cy: y(lr), r: 4, fill: color,
      opacity: current.has(tag) ? 1 : 0.25 }));
  }
  if (latest) {
    for (const r of latest.top) {
      svg.appendChild(el("text", { class: "taglabel", x: x(n - 1) + 10, y: y(r.rank) + 4,
        fill: colorOf(r.hashtag), "data-hashtag": r.hashtag }, r.hashtag));
    }
  }
  document.getElementById("rank-sub").textContent = `last ${n} window${n === 1 ? "" : "s"}`;
}

function show(w) {
  renderBars(w);
  renderTrends(w, history[history.length - 2]);
  renderRanks();
}

function setStatus(state, text) {
  const s = document.getElementById("status");
  s.className = "status " + state;
  document.getElementById("status-text").textContent = text;
}

function connect() {
  const es = new EventSource("/api/events");
  es.onopen = () => setStatus("live", "live");
  es.onerror = () => setStatus("down", "reconnecting…");
  es.addEventListener("window", (ev) => {
    const received = Date.now();
    const w = JSON.parse(ev.data);
    const end = Date.parse(w.window_end);
    window.__latencies.push(received - end);
    window.__windowsSeen++;
    if (addWindow(w)) show(w);
  });
}

// Counters: polled from /metrics; the input rate is the change in records between polls.
let lastPoll = null;
async function pollMetrics() {
  try {
    const text = await (await fetch("/metrics", { cache: "no-store" })).text();
    const m = {};
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const sp = line.lastIndexOf(" ");
      const name = line.slice(0, sp).replace(/\{.*\}$/, "");
      if (line.includes("_bucket{")) continue;
      m[name] = (m[name] || 0) + Number(line.slice(sp + 1));
    }
    const now = performance.now();
    const records = m.tagstream_records_in_total || 0;
    if (lastPoll) {
      const rate = (records - lastPoll.records) / ((now - lastPoll.at) / 1000);
      document.getElementById("s-rate").textContent = fmtInt(Math.max(0, Math.round(rate)));
    }
    lastPoll = { at: now, records };
    document.getElementById("s-records").textContent = fmtInt(records);
    document.getElementById("s-bytes").textContent = fmtBytes(m.tagstream_bytes_in_total || 0);
    document.getElementById("s-windows").textContent = fmtInt(m.tagstream_windows_emitted_total || 0);
    const state = m.tagstream_window_state_bytes;
    if (state !== undefined) document.getElementById("s-state").textContent = fmtBytes(state);
    document.getElementById("s-late").textContent = fmtInt(m.tagstream_records_late_total || 0);
    document.getElementById("s-skipped").textContent = fmtInt(m.tagstream_records_skipped_total || 0);
    const lag = m.tagstream_last_window_emit_lag_seconds;
    if (lag !== undefined) {
      document.getElementById("s-lag").textContent = lagText(lag);
    }
  } catch (e) {
    // The engine may be restarting; the next poll tries again.
  }
}

async function start() {
  // Subscribe first, then fetch the history, so no window falls between the two.
  connect();
  try {
    const r = await fetch(`/api/windows?limit=${HISTORY}`, { cache: "no-store" });
    if (r.ok) {
      for (const w of await r.json()) addWindow(w);
      if (history.length) show(history[history.length - 1]);
    }
  } catch (e) {
    // No history yet: the event stream fills it.
  }
  pollMetrics();
  setInterval(pollMetrics, 2000);
}

start();

// The emit lag in a unit that fits the card: a replay in event time lags by days or years.
function lagText(lag) {
  if (lag < 10) return (lag * 1000).toFixed(0) + " ms";
  if (lag < 120) return lag.toFixed(0) + " s";
  if (lag < 7200) return (lag / 60).toFixed(0) + " min";
  if (lag < 172800) return (lag / 3600).toFixed(0) + " h";
  return (lag / 86400).toFixed(0) + " d";
}
