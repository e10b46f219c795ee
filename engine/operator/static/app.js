// Volta operator dashboard: a snapshot (/api/snapshot) each time the SSE stream (/api/stream)
// opens, then live from the stream. The daemon drops a client that cannot keep up and forgets
// what it missed, so every (re)connect reloads the snapshot: nothing made during a drop is lost.
// Everything comes from this daemon (no CDN); charts are uPlot (vendored, MIT).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { snap: null, smiles: {}, term: null, pnl: null, lat: null, pnlData: [[], [], [], []],
                surfaceUpdates: 0, positionsUpdates: 0 };
const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "-" :
  Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const money = (x) => (x === null || x === undefined) ? '<span class="unpriced">unpriced</span>' : fmt(x, 2);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const utc = (ns) => new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 23);
const AXIS = { stroke: "#8a96a3", grid: { stroke: "#2a3440", width: 1 }, ticks: { stroke: "#2a3440" } };

function chartWidth(el, frac = 1) { return Math.max(280, Math.floor((el.clientWidth || 460) * frac) - 8); }

// -- header, tables ------------------------------------------------------------------------
function renderState(s) {
  $("#state").textContent = s.state; $("#state").className = "badge " + s.state;
  $("#kill-level").textContent = s.kill_level;
  $("#pnl-total").innerHTML = money(s.pnl_usd.total);
  // what the USD total leaves out, beside it: amounts in a currency with no USD price yet, and
  // positions with no mark (their unrealized PnL is unknown in any currency)
  const unp = Object.entries(s.pnl_usd.unpriced || {}).map(([c, v]) => `${v >= 0 ? "+" : ""}${fmt(v, 6)} ${c}`);
  const unm = s.pnl_usd.unmarked || [];
  const out = (unp.length ? [`${unp.join(", ")} unpriced (no USD price yet)`] : [])
    .concat(unm.length ? [`the unrealized PnL of ${unm.join(", ")} (no mark)`] : []);
  $("#pnl-unpriced").textContent = out.length ? `${s.pnl_usd.partial ? "partial: " : ""}leaves out ${out.join("; ")}` : "";
  $("#open-orders").textContent = s.open_orders;
  $("#fills-count").textContent = s.fills;
  const holds = Object.entries(s.holds || {}).map(([k, v]) => `${esc(k)}: ${esc(v.state)} (${esc(v.reason)})`);
  const dis = Object.entries(s.disabled_strategies || {}).map(([k, v]) => `strategy ${esc(k)} disabled: ${esc(v)}`);
  $("#holds").innerHTML = holds.concat(dis).join(" · ");
  document.body.dataset.state = s.state;
}

function rows(sel, items, fn) { $(sel + " tbody").innerHTML = items.map(fn).join(""); }

function renderPositions(ps) {
  rows("#positions", ps, (p) => `<tr><td>${esc(p.instrument_id)}</td><td class="${p.qty > 0 ? "buy" : p.qty < 0 ? "sell" : ""}">${fmt(p.qty, 4)}</td>` +
    `<td>${fmt(p.avg_price)}</td><td>${p.mark === null ? '<span class="unpriced">unpriced</span>' : fmt(p.mark)}</td>` +
    `<td>${money(p.unrealized)}</td><td>${fmt(p.realized)}</td><td>${fmt(p.fees, 4)}</td><td>${esc(p.pnl_currency)}</td></tr>`);
  state.positionsUpdates += 1;
  document.body.dataset.positionsUpdates = state.positionsUpdates;
  document.body.dataset.positionsQty = ps.map((p) => `${p.instrument_id}=${p.qty}`).join(",");
}

function renderOrders(os) {
  rows("#orders", os, (o) => `<tr><td>${esc(o.client_order_id)}</td><td>${esc(o.strategy_id)}</td><td>${esc(o.instrument_id)}</td>` +
    `<td class="${esc(o.side)}">${esc(o.side)}</td><td>${fmt(o.price)}</td><td>${fmt(o.quantity, 4)}</td><td>${fmt(o.filled, 4)}</td>` +
    `<td>${esc(o.status)}${o.in_doubt ? " (in doubt)" : ""}</td>` +
    `<td><button class="small" data-action="cancel" data-coid="${esc(o.client_order_id)}">cancel</button></td></tr>`);
}

function renderFills(fs) {
  rows("#fills", fs.slice(0, 50), (f) => `<tr><td>${utc(f.ts_event)}</td><td>${esc(f.instrument_id)}</td><td class="${esc(f.side)}">${esc(f.side)}</td>` +
    `<td>${fmt(f.price)}</td><td>${fmt(f.quantity, 4)}</td><td>${fmt(f.fee, 4)} ${esc(f.fee_currency)}</td><td>${esc(f.liquidity)}</td><td>${esc(f.client_order_id)}</td></tr>`);
}

function renderVenues(vs) {
  const entries = Object.entries(vs);
  if (!entries.length) { $("#venues tbody").innerHTML = '<tr><td colspan="7"><small>no venues configured</small></td></tr>'; return; }
  rows("#venues", entries, ([v, x]) => `<tr><td>${esc(v)}</td><td><span class="badge ${x.connection === "connected" ? "connected" : "down"}">${esc(x.connection)}</span>${links(x)}</td>` +
    `<td>${x.books.live}</td><td>${x.books.syncing}</td><td>${x.books.stale}</td><td>${fmt(x.messages_per_s, 1)}</td><td class="rejects">${rejects(x)}</td></tr>`);
}

// which stream is down (market data, private), and how often the venue said "rate limited"
function links(x) {
  const down = Object.entries(x.streams || {}).filter(([, st]) => st !== "connected").map(([s, st]) => `${esc(s)} ${esc(st)}`);
  const parts = down.concat(x.rate_limited ? [`rate limited ${x.rate_limited}×`] : []);
  return parts.length ? `<br><small class="links">${parts.join(", ")}</small>` : "";
}

// orders the venue refused, by reason category, and the venue's own words for the last one
function rejects(x) {
  if (!x.rejects_total) return "0";
  const by = Object.entries(x.rejects).map(([why, n]) => `${esc(why)} ${n}`).join(", ");
  const last = x.last_reject;
  const words = last ? `<br><small>last at ${utc(last.ts_ns).slice(11, 19)} UTC: ${esc(last.detail)} (${esc(last.client_order_id)})</small>` : "";
  return `${x.rejects_total}: ${by}${words}`;
}

function renderRisk(r) {
  rows("#risk", r.limits, (l) => `<tr><td>${esc(l.limit)}</td><td>${fmt(l.used, 4)}</td><td>${fmt(l.max, 4)}</td><td>${esc(l.unit)}</td><td>${l.used_pct === null ? "-" : fmt(l.used_pct, 1) + " %"}</td></tr>`);
}

function bar(label, pct) {
  const p = Math.min(100, pct ?? 0);
  const cls = p >= 90 ? "bad" : p >= 70 ? "warn" : "";
  return `<div class="bar"><div class="${cls}" style="width:${p}%"></div><span>${esc(label)} · ${pct === null ? "-" : fmt(pct, 1) + " %"}</span></div>`;
}

function renderGreeks(g) {
  $("#greeks").innerHTML = Object.entries(g).map(([und, x]) => {
    const lim = Object.entries(x.limits || {}).map(([name, l]) => bar(`${name} ${fmt(l.value, 4)} / ${fmt(l.limit, 4)}`, l.used_pct)).join("");
    const exp = Object.entries(x.by_expiry || {}).map(([e, r]) => `<tr><td>${esc(e)}</td><td>${fmt(r.delta, 4)}</td><td>${fmt(r.gamma, 6)}</td><td>${fmt(r.vega_usd, 2)}</td><td>${fmt(r.theta_usd_day, 2)}</td></tr>`).join("");
    const byExp = exp ? `<table class="by-expiry"><thead><tr><th>expiry</th><th>delta</th><th>gamma</th><th>vega USD/pt</th><th>theta USD/day</th></tr></thead><tbody>${exp}</tbody></table>` : "";
    const unp = (x.unpriced_positions || []).length ? `<div class="unpriced">not in these figures (no Greeks yet): ${x.unpriced_positions.map(esc).join(", ")}</div>` : "";
    return `<div><b>${esc(und)}</b> <small>delta ${fmt(x.delta, 4)} (${x.delta_usd === null ? '<span class="unpriced">unpriced</span>' : fmt(x.delta_usd, 0) + " USD"}) · gamma ${fmt(x.gamma, 6)} · vega ${fmt(x.vega_usd, 2)} USD/pt · theta ${fmt(x.theta_usd_day, 2)} USD/day</small>${unp}${lim}${byExp}</div>`;
  }).join("") || "<small>no underlyings</small>";
}

function renderStrategies(ss) {
  rows("#strategies", Object.entries(ss), ([sid, s]) => {
    const c = s.callbacks || {};
    const btn = s.state === "disabled" ? `<button class="small" data-action="enable_strategy" data-sid="${esc(sid)}">enable</button>`
      : `<button class="small" data-action="disable_strategy" data-sid="${esc(sid)}">disable</button>`;
    return `<tr><td>${esc(sid)}</td><td>${esc(s.state)}</td><td>${c.calls ?? 0}</td><td>${fmt(c.avg_us, 1)}</td><td>${fmt(c.max_ms, 2)}</td><td>${c.slow ?? 0}</td><td>${c.errors ?? 0}</td><td>${btn}</td></tr>`;
  });
}

// The log of alerts, operator actions, gate denials and venue status changes, newest first. Its
// lines come from the stream while it is open and from the snapshot at each (re)connect (the
// daemon keeps the recent ones of each kind): keyed, so a line in both is shown once, and ordered
// by time, so a page that reconnected shows exactly what a page that stayed connected shows.
// Denials keep their own share of it: a strategy hammering a halted gate makes dozens a second,
// which must not push the alert that says why out of sight.
const LOG_KEEP = { denial: 50, other: 100 };
const logLines = new Map();  // key -> { ts, cls, text, group }
function logLine(key, ts, cls, text, group = "other") {
  if (logLines.has(key)) return;
  logLines.set(key, { ts, cls, text, group });
  const newest = [...logLines.entries()].sort(([ka, a], [kb, b]) => (b.ts - a.ts) || (ka < kb ? 1 : ka > kb ? -1 : 0));
  const kept = { denial: 0, other: 0 };
  const shown = newest.filter(([k, l]) => {
    if (++kept[l.group] <= LOG_KEEP[l.group]) return true;
    logLines.delete(k);  // bounded
    return false;
  });
  $("#alerts").replaceChildren(...shown.map(([, l]) => {
    const li = document.createElement("li");
    li.className = l.cls; li.textContent = l.text;
    return li;
  }));
}

const logAlert = (a) => logLine(`alert ${a.ts_ns} ${a.key}`, a.ts_ns, a.severity, `${utc(a.ts_ns)} ${a.title}: ${a.detail}`);
const logAction = (a) => {
  const args = Object.entries(a.args || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  logLine(`action ${a.ts} ${a.action} ${a.origin}`, a.ts, "info", `${utc(a.ts)} operator ${a.action}${args ? ` (${args})` : ""} from ${a.origin}`);
};
const logDenial = (d) => logLine(`denial ${d.ts} ${d.client_order_id}`, d.ts, "warning",
  `${utc(d.ts)} denied ${d.client_order_id}: ${d.reason} ${d.detail}`, "denial");
const VENUE_CLS = { connected: "info", rate_limited: "warning" };  // (a lost link: critical)
const logVenue = (v) => logLine(`venue ${v.ts} ${v.venue} ${v.stream} ${v.status}`, v.ts, VENUE_CLS[v.status] || "critical",
  `${utc(v.ts)} venue ${v.venue}${v.stream ? " " + v.stream : ""} ${v.status} ${v.reason || ""}`);

// -- charts --------------------------------------------------------------------------------
function whiskers(u) {  // bid/ask IV as vertical whiskers (series 1 = bid, 2 = ask)
  const ctx = u.ctx, [xs, bid, ask] = [u.data[0], u.data[1], u.data[2]];
  ctx.save(); ctx.strokeStyle = "#58a6ff"; ctx.lineWidth = 1.5 * devicePixelRatio;
  for (let i = 0; i < xs.length; i++) {
    if (bid[i] == null || ask[i] == null) continue;
    const x = u.valToPos(xs[i], "x", true), y0 = u.valToPos(bid[i], "y", true), y1 = u.valToPos(ask[i], "y", true);
    const w = 3 * devicePixelRatio;
    ctx.beginPath(); ctx.moveTo(x, y0); ctx.lineTo(x, y1);
    ctx.moveTo(x - w, y0); ctx.lineTo(x + w, y0); ctx.moveTo(x - w, y1); ctx.lineTo(x + w, y1); ctx.stroke();
  }
  ctx.restore();
}

function smileData(e) {
  // Out-of-the-money side per strike (calls above the forward, puts below): one point per strike.
  const F = e.forward, pts = new Map();
  e.strike.forEach((k, i) => {
    const otm = e.is_call[i] ? k >= F : k < F;
    if (otm || !pts.has(k)) pts.set(k, { bid: e.bid_iv[i], ask: e.ask_iv[i], mid: e.mid_iv[i] });
  });
  const strikes = [...pts.keys()].sort((a, b) => a - b);
  const lo = strikes[0], hi = strikes[strikes.length - 1];
  const grid = new Set(strikes);
  for (let i = 0; i <= 60; i++) grid.add(lo + (hi - lo) * i / 60);
  const xs = [...grid].sort((a, b) => a - b);
  const svi = (K) => {
    const p = e.svi; if (!p || !F) return null;
    const k = Math.log(K / p.forward), km = k - p.m;
    const w = p.a + p.b * (p.rho * km + Math.sqrt(km * km + p.sigma * p.sigma));
    return w > 0 ? 100 * Math.sqrt(w / p.T_years) : null;
  };
  const pick = (f) => xs.map((x) => (pts.has(x) ? pts.get(x)[f] : null));
  return [xs, pick("bid"), pick("ask"), pick("mid"), xs.map(svi)];
}

function renderSurface(surface) {
  const host = $("#smiles");
  const placeholder = $("#no-chain");
  if (placeholder) placeholder.remove();
  const seen = new Set();
  const term = [[], []];
  let meta = [];
  for (const [key, ch] of Object.entries(surface)) {
    meta.push(`${key}: ${ch.arbitrage.butterfly} butterfly / ${ch.arbitrage.calendar} calendar arbitrage flags`);
    for (const e of ch.expiries) {
      if (!e.strike.length || e.T_years === null || e.T_years <= 0) continue;
      const id = `${key}-${e.expiry}`;
      seen.add(id);
      if (e.atm_vol_pts !== null) { term[0].push(e.T_years * 365); term[1].push(e.atm_vol_pts); }
      const data = smileData(e);
      const title = `${key} ${e.expiry} · F ${fmt(e.forward, 0)} · ATM ${fmt(e.atm_vol_pts, 2)} · fit RMSE ${fmt(e.fit_rmse_vol_pts, 3)} pts` +
        (e.arbitrage.butterfly ? ` · ${e.arbitrage.butterfly} butterfly flags` : "");
      let c = state.smiles[id];
      if (!c) {
        const box = document.createElement("div");
        box.className = "smile"; box.dataset.expiry = e.expiry;
        box.innerHTML = `<div class="chart-title"></div>`;
        host.appendChild(box);
        const u = new uPlot({
          width: chartWidth(host, 1 / 3), height: 230, legend: { show: true },
          scales: { x: { time: false } },
          axes: [{ ...AXIS, label: "strike (USD)", size: 42, values: (u, v) => v.map((x) => fmt(x, 0)) },
                 { ...AXIS, label: "IV (vol pts)", size: 50 }],
          series: [{ label: "strike" },
            { label: "bid", stroke: "transparent", points: { show: false } },
            { label: "ask", stroke: "transparent", points: { show: false } },
            { label: "mid", stroke: "transparent", points: { show: true, size: 5, fill: "#d7dde3", stroke: "#d7dde3" } },
            { label: "SVI", stroke: "#f0883e", width: 2, spanGaps: true }],
          hooks: { draw: [whiskers] },
        }, data, box);
        c = state.smiles[id] = { u, box };
      } else {
        c.u.setData(data);
      }
      c.box.querySelector(".chart-title").textContent = title;
    }
  }
  for (const [id, c] of Object.entries(state.smiles)) {
    if (!seen.has(id)) { c.u.destroy(); c.box.remove(); delete state.smiles[id]; }
  }
  $("#surface-meta").textContent = meta.join(" · ");
  if (!state.term) {
    state.term = new uPlot({ width: chartWidth($("#term")), height: 200, scales: { x: { time: false } },
      axes: [{ ...AXIS, label: "days to expiry", size: 40 }, { ...AXIS, label: "ATM vol (pts)", size: 50 }],
      series: [{ label: "days" }, { label: "ATM vol", stroke: "#58a6ff", width: 2, points: { show: true, size: 6 } }] }, term, $("#term"));
  } else state.term.setData(term);
  state.surfaceUpdates += 1;
  document.body.dataset.surfaceUpdates = state.surfaceUpdates;
}

function pushPnl(p) {
  if (!p) return;
  const [ts, total, realized, unrealized] = p;
  const d = state.pnlData;
  d[0].push(ts / 1e9); d[1].push(total); d[2].push(realized); d[3].push(unrealized);
  if (d[0].length > 3600) d.forEach((a) => a.shift());
}

function renderPnl() {
  if (!state.pnl) {
    state.pnl = new uPlot({ width: chartWidth($("#pnl")), height: 200,
      axes: [{ ...AXIS, size: 40, space: 90, values: (u, v) => v.map((t) => new Date(t * 1e3).toISOString().slice(11, 19)) },
             { ...AXIS, label: "USD", size: 60 }],
      series: [{}, { label: "total", stroke: "#58a6ff", width: 2 }, { label: "realized", stroke: "#3fb950" },
               { label: "unrealized", stroke: "#d29922" }] }, state.pnlData, $("#pnl"));
  } else state.pnl.setData(state.pnlData);
}

function histChart(key, el, hist, label) {
  const xs = hist.le_ms.map((_, i) => i), ys = hist.count;
  const labels = hist.le_ms.map((x) => (x === null ? "+Inf" : "≤" + x));
  const data = [xs, ys];
  if (!state[key]) {
    state[key] = new uPlot({ width: chartWidth(el), height: 140, scales: { x: { time: false } }, legend: { show: false },
      axes: [{ ...AXIS, size: 30, values: (u, v) => v.map((i) => labels[i] ?? ""), incrs: [1, 2] },
             { ...AXIS, label: "samples", size: 50 }],
      series: [{ label: "bucket" }, { label, stroke: "#58a6ff", fill: "rgba(88,166,255,.35)",
               paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false } }] }, data, el);
  } else state[key].setData(data);
}

function renderLatency(lat) {
  if (!lat) return;
  histChart("latLag", $("#latency-lag"), lat.loop_lag, "event-loop lag");
  histChart("latAck", $("#latency-ack"), lat.order_ack, "order acknowledgement");
  if (lat.tick_to_order) {
    histChart("latT2o", $("#latency-t2o"), lat.tick_to_order, "tick to order");
    histChart("latGate", $("#latency-gate"), lat.gate_check, "risk gate check");
    histChart("latJournal", $("#latency-journal"), lat.journal_write, "journal write");
  }
}

// where alerts go, and whether they get there: a broken pager cannot report itself
function renderDelivery(d) {
  const sinks = Object.entries(d || {});
  $("#alert-delivery").innerHTML = sinks.length ? sinks.map(([kind, x]) => x.down
    ? `<span class="critical">${esc(kind)}: delivery failing, ${x.lost} alert(s) not delivered</span>`
    : `<span>${esc(kind)}: ok (${x.sent} sent${x.failed ? `, ${x.failed} failed before` : ""})</span>`).join(" · ")
    : "<small>no alert destination configured: alerts are logged and shown here only</small>";
}

function applyTick(t) {
  renderState(t.state); renderPositions(t.positions); renderGreeks(t.greeks); renderVenues(t.venues);
  renderStrategies(t.strategies); renderOrders(t.orders); renderRisk(t.risk); renderLatency(t.latency);
  pushPnl(t.pnl); renderPnl(); renderDelivery(t.alert_delivery);
}

// -- control -------------------------------------------------------------------------------
let pending = null;
function ask(action, args, text) {
  pending = { action, args };
  $("#confirm-title").textContent = `Confirm: ${action.replace("_", " ")}`;
  $("#confirm-text").textContent = text;
  $("#confirm-error").textContent = "";
  $("#confirm-token").value = sessionStorage.getItem("volta-token") || "";
  $("#confirm").hidden = false;
  $("#confirm-token").focus();
}

async function confirmAction() {
  const token = $("#confirm-token").value.trim();
  const path = pending.action === "session" ? "/api/session" : `/api/control/${pending.action}`;
  const resp = await fetch(path, { method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ ...pending.args, reason: "dashboard" }) });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) { $("#confirm-error").textContent = `${resp.status}: ${body.error || "failed"}`; return; }
  sessionStorage.setItem("volta-token", token);
  $("#confirm").hidden = true;
  if (pending.action === "session") { if (await load()) connect(); return; }
  renderState(await (await fetch("/api/state")).json());
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (!b) return;
  const a = b.dataset.action;
  if (a === "kill") ask("kill", { level: Number(b.dataset.level) }, `Trip the kill switch to level ${b.dataset.level} (${b.title}).`);
  else if (a === "clear") ask("clear", {}, "Lift the kill switch and the loss-limit holds; trading resumes if nothing else holds it.");
  else if (a === "cancel") ask("cancel", { client_order_id: b.dataset.coid }, `Cancel order ${b.dataset.coid}.`);
  else ask(a, { strategy_id: b.dataset.sid }, `${a.replace("_", " ")} ${b.dataset.sid}.`);
});
$("#confirm-cancel").addEventListener("click", () => { $("#confirm").hidden = true; });
$("#confirm-ok").addEventListener("click", () => { confirmAction().catch((e) => { $("#confirm-error").textContent = String(e); }); });

// -- data ----------------------------------------------------------------------------------
async function load() {
  const resp = await fetch("/api/snapshot");
  if (resp.status === 401 || resp.status === 403) {  // bound off loopback: reads need the token
    $("#conn").textContent = "token needed";
    ask("session", {}, "This daemon is not on loopback: enter the operator token to view it.");
    return false;
  }
  const s = await resp.json();
  state.snap = s;
  $("#deployment").textContent = `${s.state.deployment} (${s.state.mode})`;
  document.title = `Volta · ${s.state.deployment}`;
  renderState(s.state); renderPositions(s.positions); renderOrders(s.orders.open); renderFills(s.fills);
  renderGreeks(s.greeks); renderVenues(s.venues); renderRisk(s.risk); renderStrategies(s.strategies);
  renderLatency(s.latency); renderDelivery(s.alert_delivery);
  state.pnlData = [[], [], [], []];
  s.pnl.points.forEach(pushPnl); renderPnl();
  if (Object.keys(s.surface).length) renderSurface(s.surface);
  else $("#smiles").innerHTML = '<small id="no-chain">no option chain on this deployment (yet): the smile appears after the first fit</small>';
  s.alerts.forEach(logAlert); s.actions.forEach(logAction); s.denials.forEach(logDenial);
  s.venue_events.forEach(logVenue);
  state.fills = s.fills;
  return true;
}

function connect() {
  const es = new EventSource("/api/stream");
  es.onopen = () => {
    $("#conn").textContent = "live"; $("#conn").className = "badge live";
    // the stream only carries what happens from now on: what happened while this page was not
    // connected (before its first open, during a drop or a daemon restart) is in the snapshot
    load().catch((e) => { $("#conn").textContent = "error"; console.warn(e); });
  };
  es.onerror = () => {
    $("#conn").textContent = "reconnecting"; $("#conn").className = "badge down";
    // EventSource retries a lost connection itself, but gives up for good on an answer that is
    // not a stream (a proxy's 502 while the daemon restarts, a 401 once it forgot the session)
    if (es.readyState === EventSource.CLOSED) setTimeout(reconnect, 2000);
  };
  const on = (type, fn) => es.addEventListener(type, (m) => fn(JSON.parse(m.data)));
  on("tick", applyTick);
  on("surface", (m) => renderSurface(m.surface));
  on("state", renderState);
  on("order", (m) => {
    // a fill made while the snapshot was being read arrives in both: keep it once
    const dup = (f) => f.trade_id === m.trade_id && f.instrument_id === m.instrument_id;
    if (m.event === "OrderFilled" && !state.fills.some(dup)) { state.fills.unshift(m); state.fills.length = Math.min(state.fills.length, 200); renderFills(state.fills); }
    if (m.event === "OrderDenied") logDenial(m);
  });
  on("alert", logAlert);
  on("action", logAction);
  on("venue", logVenue);
}

// a new stream once the daemon answers again (load() asks for the token if it needs one)
function reconnect() {
  load().then((ok) => { if (ok) connect(); }).catch(() => setTimeout(reconnect, 2000));
}

load().then((ok) => { if (ok) connect(); }).catch((e) => { $("#conn").textContent = "error"; console.warn(e); });
