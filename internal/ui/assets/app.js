// Cairn's dashboard: polls /ui/api/overview and draws it. Everything the
// page shows comes from that one document; rates and the p99 come from the
// difference between two successive polls of each node's counters.
"use strict";

const palette = ["#2e86c1", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085",
  "#f39c12", "#2c3e50", "#7f8c8d", "#e84393", "#6c5ce7", "#00b894"];

const state = {
  prev: new Map(),     // node name -> {incarnation, time, requests, latency}
  rates: new Map(),    // node name -> {ops, p99}
  colors: new Map(),   // node name -> colour, stable for the page's life
  timer: null,
  refresh: 1000,
  last: null,
};

function colorOf(name) {
  if (!state.colors.has(name)) {
    state.colors.set(name, palette[state.colors.size % palette.length]);
  }
  return state.colors.get(name);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function setText(id, v) {
  document.getElementById(id).textContent = v;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function bytes(n) {
  if (n == null || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function seconds(s) {
  if (s == null || isNaN(s)) return "–";
  if (Math.abs(s) < 0.001) return (s * 1e6).toFixed(0) + " µs";
  if (Math.abs(s) < 1) return (s * 1e3).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
}

function ago(iso, now) {
  if (!iso || iso.startsWith("0001-")) return "–";
  const s = (now - Date.parse(iso)) / 1000;
  return s < 0 ? "now" : seconds(s) + " ago";
}

// quantile of a cumulative histogram {bounds, counts, count}, as
// Prometheus's histogram_quantile: linear inside the bucket.
function quantile(h, q) {
  if (!h || h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0, below = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.counts[i] >= rank) {
      const inBucket = h.counts[i] - below;
      if (inBucket === 0) return h.bounds[i];
      return lower + (h.bounds[i] - lower) * (rank - below) / inBucket;
    }
    lower = h.bounds[i];
    below = h.counts[i];
  }
  return h.bounds.length ? h.bounds[h.bounds.length - 1] : NaN;
}

// delta is cur - prev, bucket by bucket (matched by bound).
function delta(cur, prev) {
  const before = new Map();
  (prev.bounds || []).forEach((b, i) => before.set(b, prev.counts[i]));
  return {
    bounds: cur.bounds || [],
    counts: (cur.counts || []).map((c, i) => c - (before.get(cur.bounds[i]) || 0)),
    count: cur.count - prev.count,
  };
}

function updateRates(nodes) {
  for (const n of nodes) {
    if (!n.reachable) {
      state.rates.delete(n.name);
      state.prev.delete(n.name);
      continue;
    }
    const p = state.prev.get(n.name);
    const t = Date.parse(n.time);
    if (p && p.incarnation === n.incarnation && t > p.time && n.requests >= p.requests) {
      const d = delta(n.latency, p.latency);
      const ops = (n.requests - p.requests) / ((t - p.time) / 1000);
      state.rates.set(n.name, {ops: ops, p99: d.count > 0 ? quantile(d, 0.99) : NaN});
    }
    state.prev.set(n.name, {incarnation: n.incarnation, time: t, requests: n.requests, latency: n.latency});
  }
}

function drawOverview(ov) {
  const now = Date.parse(ov.time);
  const status = new Map(((ov.status && ov.status.nodes) || []).map(n => [n.name, n]));
  const stats = new Map(ov.nodes.map(n => [n.name, n]));
  const members = ov.cluster.nodes.filter(n => n.state !== "removed");
  let up = 0, totalOps = 0, anyRate = false;
  const rows = members.map(m => {
    const st = status.get(m.name) || {};
    const ns = stats.get(m.name) || {};
    let s = st.state || m.state;
    if (s === "up") up++;
    const shown = (s === "up" && ns.reachable === false) ? "unreachable" : s;
    const r = state.rates.get(m.name);
    if (r) { totalOps += r.ops; anyRate = true; }
    return el("tr", {"data-node": m.name, "data-state": shown},
      el("td", {}, el("span", {class: "swatch"}), m.name),
      el("td", {class: "state-" + shown}, shown),
      el("td", {}, m.zone || "–"),
      el("td", {class: "num"}, m.capacity || 1),
      el("td", {class: "num"}, st.replicas != null ? st.replicas + (st.target_replicas ? " / " + st.target_replicas : "") : (ns.replicas ?? "–")),
      el("td", {class: "num"}, st.leaders ?? ns.leaders ?? "–"),
      el("td", {}, ago(st.last_heard, now)),
      el("td", {class: "num"}, ns.reachable ? seconds(ns.clock_offset_seconds) : "–"),
      el("td", {class: "num"}, ns.reachable ? bytes(ns.disk_free_bytes) : "–"),
      el("td", {class: "num"}, r ? r.ops.toFixed(0) : "–"),
      el("td", {class: "num"}, r ? seconds(r.p99) : "–"));
  });
  for (const row of rows) {
    row.firstChild.firstChild.style.background = colorOf(row.dataset.node);
  }
  fill(document.querySelector("#nodes tbody"), rows);
  setText("nodes-up", up);
  setText("node-count", members.length);
  setText("partition-count", ov.cluster.settings.partitions);
  setText("ops", anyRate ? totalOps.toFixed(0) : "–");
  setText("under-replicated", ov.status ? ov.status.under_replicated : "–");
  setText("moves-inflight", ov.status ? ov.status.in_flight.length : "–");

  const alarms = document.getElementById("alarms");
  if (ov.alarms.length === 0) {
    alarms.replaceChildren(el("li", {class: "none"}, "No alarms."));
  } else {
    alarms.replaceChildren(...ov.alarms.map(a =>
      el("li", {"data-kind": a.kind, "data-node": a.node || ""}, a.message)));
  }
}

function drawRing(ov) {
  const ring = document.getElementById("ring");
  const R = 190;
  const parts = [svg("circle", {cx: 0, cy: 0, r: R, fill: "none", stroke: "#d9dbdd", "stroke-width": 14})];
  const pts = ov.ring.points;
  // Arcs: each point owns the arc from the point before it.
  for (let i = 0; i < pts.length; i++) {
    const from = i === 0 ? pts[pts.length - 1].pos - 1 : pts[i - 1].pos;
    const to = pts[i].pos;
    const a0 = from * 2 * Math.PI - Math.PI / 2, a1 = to * 2 * Math.PI - Math.PI / 2;
    const large = (to - from) > 0.5 ? 1 : 0;
    parts.push(svg("path", {
      d: `M ${R * Math.cos(a0)} ${R * Math.sin(a0)} A ${R} ${R} 0 ${large} 1 ${R * Math.cos(a1)} ${R * Math.sin(a1)}`,
      fill: "none", stroke: colorOf(pts[i].node), "stroke-width": 14,
      "data-node": pts[i].node,
    }));
  }
  for (const p of ov.ring.partitions) {
    const a = p.pos * 2 * Math.PI - Math.PI / 2;
    const leader = p.replicas[0] || "";
    const c = svg("circle", {cx: (R - 30) * Math.cos(a), cy: (R - 30) * Math.sin(a), r: 4,
      fill: colorOf(leader), "data-partition": p.partition});
    c.append(svg("title", {}, document.createTextNode(`partition ${p.partition}: ${p.replicas.join(", ")}`)));
    parts.push(c);
  }
  parts.push(svg("text", {x: 0, y: 0, "text-anchor": "middle", "font-size": 14, fill: "#1d1f21"},
    document.createTextNode(`${pts.length} virtual nodes`)));
  parts.push(svg("text", {x: 0, y: 18, "text-anchor": "middle", "font-size": 12, fill: "#6b6f73"},
    document.createTextNode(`${ov.ring.partitions.length} partitions`)));
  ring.replaceChildren(...parts);

  const counts = new Map();
  for (const p of pts) counts.set(p.node, (counts.get(p.node) || 0) + 1);
  const legend = [...counts.keys()].sort().map(n => {
    const sw = el("span", {class: "swatch"});
    sw.style.background = colorOf(n);
    return el("li", {"data-node": n}, sw, `${n}: ${counts.get(n)} virtual nodes`);
  });
  if (ov.ring_error) legend.push(el("li", {}, ov.ring_error));
  document.getElementById("ring-legend").replaceChildren(...legend);
}

function engineText(p) {
  const e = p.local && p.local.engine;
  if (!e) return p.term ? "term " + p.term : "–";
  return Object.entries(e).filter(([k]) => k !== "name")
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") || e.name;
}

function drawPartitions(ov) {
  const rows = ov.cluster.partitions.map(p => el("tr", {"data-partition": p.partition},
    el("td", {class: "num"}, p.partition),
    el("td", {}, p.leader || "unknown"),
    el("td", {}, p.voters.join(", ")),
    el("td", {}, p.learners.join(", ") || "–"),
    el("td", {}, engineText(p)),
    el("td", {class: "num"}, p.membership_version),
    el("td", {}, p.local ? p.local.role : "–"),
    el("td", {class: "num"}, p.local ? p.local.applied : "–"),
    el("td", {class: "num"}, p.local ? p.local.commit : "–")));
  fill(document.querySelector("#partitions tbody"), rows);
}

function moveRow(m) {
  return el("tr", {"data-group": m.group},
    el("td", {}, m.partition < 0 ? "meta" : m.partition), el("td", {}, m.add || "–"), el("td", {}, m.remove || "–"));
}

function drawMoves(ov) {
  const s = ov.status;
  if (!s) {
    for (const id of ["moves-done", "moves-inflight2", "moves-queued", "moves-progress"]) setText(id, "–");
    return;
  }
  setText("moves-done", s.moves_done);
  setText("moves-inflight2", s.in_flight.length);
  setText("moves-queued", s.queued.length);
  const total = s.moves_done + s.in_flight.length + s.queued.length;
  const pct = total === 0 ? 100 : Math.round(100 * s.moves_done / total);
  setText("moves-progress", total === 0 ? "balanced" : pct + "%");
  document.getElementById("moves-bar").style.width = pct + "%";
  fill(document.querySelector("#inflight tbody"), s.in_flight.map(moveRow));
  fill(document.querySelector("#queued tbody"), s.queued.map(moveRow));
}

function draw(ov) {
  updateRates(ov.nodes);
  drawOverview(ov);
  drawRing(ov);
  drawPartitions(ov);
  drawMoves(ov);
  const meta = `${ov.cluster.cluster_id.slice(0, 12)} · engine ${ov.cluster.settings.engine} · ` +
    `meta leader ${ov.status ? ov.status.meta_leader || "unknown" : "unknown"} · via ${ov.node}`;
  setText("meta", meta);
  const err = document.getElementById("error");
  if (ov.status_error) {
    err.textContent = "Placement status unavailable: " + ov.status_error;
    err.hidden = false;
  } else {
    err.hidden = true;
  }
  setText("footer", "Updated " + new Date(ov.time).toLocaleTimeString() + `; refreshing every ${ov.refresh_seconds} s.`);
  document.body.dataset.updated = ov.time;
}

async function poll() {
  try {
    const resp = await fetch("/ui/api/overview", {cache: "no-store"});
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
    const ov = await resp.json();
    state.refresh = (ov.refresh_seconds || 1) * 1000;
    state.last = ov;
    draw(ov);
  } catch (e) {
    const err = document.getElementById("error");
    err.textContent = "This node did not answer: " + e.message + ". Retrying.";
    err.hidden = false;
  }
  state.timer = setTimeout(poll, state.refresh);
}

function showTab() {
  const tab = (location.hash || "#overview").slice(1);
  for (const s of document.querySelectorAll("[data-section]")) s.hidden = s.dataset.section !== tab;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.tab === tab);
}

window.addEventListener("hashchange", showTab);
document.addEventListener("DOMContentLoaded", () => {
  showTab();
  poll();
});
