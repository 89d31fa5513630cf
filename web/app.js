"use strict";
/* chargebrain admin page. Talks to the daemon through /cnf only.
 *
 * Test hooks (data-testid="…" unless a name= is given). Keep them stable.
 *   Navigation  nav-dashboard nav-settings nav-devices nav-users nav-rules
 *   Dashboard   site-summary; tile-<dev_id>; inside a tile: state (words),
 *               charging-current (EVSE: offered current, "8.0 A");
 *               history, range-<seconds>; charts chart-site-L1..L3 and
 *               chart-<dev_id> (SVG, data-max-ma/-from/-to; polygons and
 *               polylines with data-series house, cars, limit, drawn,
 *               offered), history-<dev_id> holding the sessions
 *   Settings    input name=max_total_current; params-save; params-status;
 *               cm-vars (the variables list), inputs name=cm_name, cm_value;
 *               cm-var-save; cm-vars-status
 *   Devices     device-new; inputs name=dev_type (select), dev_id, name,
 *               address, id; device-save; devices-status;
 *               device-row-<dev_id> holding device-delete, then device-delete-confirm
 *   Users       user-new; inputs name=user_name, cards (comma-separated);
 *               user-save; users-status; user-row-<id>
 *   Rules       select name=rule_target (values E1, user:<id>); rule-add;
 *               fieldsets rule-<index> with inputs named as the JSON fields;
 *               rules-save; rules-status
 *   Login       login-password login-submit login-status; logout
 *   First start setpw (panel) setpw-new setpw-again setpw-submit setpw-status
 */

/* ---------- helpers ---------- */

const $ = (sel, root = document) => root.querySelector(sel);

// Builds an element. Children that are strings become text nodes, so text
// from the API is never parsed as HTML.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && !k.includes("-")) el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) el.append(kid);
  return el;
}

const num = (v) => typeof v === "number" && Number.isFinite(v);
const amps = (ma) => (num(ma) ? (ma / 1000).toFixed(1) + " A" : "—");
const kw = (w) => (num(w) ? (w / 1000).toFixed(2) + " kW" : "—");
const kwh = (wh) => (num(wh) ? (wh / 1000).toFixed(2) + " kWh" : "—");
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function say(el, text, kind = "") {
  el.textContent = text;
  el.className = "status " + kind;
}
const statusEl = (testid) =>
  h("p", { class: "status", role: "status", "aria-live": "polite", "data-testid": testid });

// The site's own title beside the product name, unless it is the same.
function siteTitle(p) {
  $("#site-title").textContent = p.title && p.title !== "chargebrain" ? p.title : "";
}

function banner(text) {
  const b = $("#banner");
  // Rewriting an alert every second would make screen readers repeat it.
  if (b.textContent !== (text || "")) b.textContent = text || "";
  b.hidden = !text;
}

/* ---------- the API ---------- */

// The page logs in with the password once and keeps only the session token
// it gets (for this tab), sent as "Authorization: Bearer". The browser never
// holds basic-auth credentials that pages of other sites could ride on.
const TOKEN = "chargebrain.session";
const token = () => sessionStorage.getItem(TOKEN);

// Reads go by GET; everything else by POST with a JSON body, as the daemon
// requires of changes.
const READS = new Set(["get_dev_info", "get_params", "get_dev_types", "get_users", "get_user",
  "get_ta_log", "get_new_user_id", "get_login"]);

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function send(cmd, query, body, tok) {
  const headers = {};
  if (tok != null) headers.Authorization = "Bearer " + tok;
  // credentials "omit": the browser never shows its own password dialog.
  const init = { headers, credentials: "omit", cache: "no-store", signal: AbortSignal.timeout(15000) };
  if (body === undefined && !READS.has(cmd)) body = {};
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch("/cnf?" + new URLSearchParams({ cmd, ...query }), init);
  } catch (e) {
    const why = e.name === "TimeoutError" ? "no answer within 15 s" : e.message;
    throw new ApiError("no connection to chargebrain (" + why + ")", 0);
  }
}

// The daemon's errors are JSON strings; anything else is shown as it came.
async function errorText(res) {
  const text = await res.text();
  try {
    const v = JSON.parse(text);
    if (typeof v === "string") return v;
  } catch {}
  return `HTTP ${res.status} ${text}`.trim();
}

// Runs a command. A 401 opens the login form, and the command is sent again
// once a password is accepted (unless opts.noLogin).
async function api(cmd, query = {}, body, opts = {}) {
  for (;;) {
    const res = await send(cmd, query, body, token());
    if (res.status === 401 && !opts.noLogin) {
      await login.need(await errorText(res));
      continue;
    }
    if (!res.ok) throw new ApiError(await errorText(res), res.status);
    return opts.blob ? res.blob() : res.json();
  }
}

/* ---------- login ---------- */

const login = {
  waiting: [],
  need(reason) {
    if (token() != null) {
      sessionStorage.removeItem(TOKEN);
      showLogout();
      $("#login-why").textContent = "The session has ended (" + reason + "). Log in again.";
    }
    const panel = $("#login");
    if (panel.hidden) {
      panel.hidden = false;
      say($("#login-status"), "");
      $("#login-password").focus();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  },
  finish(ok) {
    $("#login").hidden = true;
    $("#login-why").textContent = "This needs the admin password (user name admin).";
    for (const w of this.waiting.splice(0))
      ok ? w.resolve() : w.reject(new ApiError("not logged in: this needs the admin password", 401));
  },
};

function showLogout() {
  $("#logout").hidden = token() == null;
}

// Logs in with `pwd`: the session token, or an ApiError.
async function logIn(pwd) {
  const res = await send("login", {}, { password: pwd }, null);
  if (!res.ok) throw new ApiError(await errorText(res), res.status);
  const { token: t } = await res.json();
  sessionStorage.setItem(TOKEN, t);
  showLogout();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#login-password");
  const st = $("#login-status");
  say(st, "Checking…");
  try {
    await logIn(input.value);
    input.value = "";
    $("#announce").textContent = "Logged in";
    login.finish(true);
  } catch (err) {
    say(st, err.status === 401 ? "Wrong password" : err.message, "err");
    input.select();
  }
});
$("#login-cancel").addEventListener("click", () => login.finish(false));
$("#logout").addEventListener("click", () => {
  const t = token();
  sessionStorage.removeItem(TOKEN);
  if (t) send("logout", {}, {}, t).catch(() => {});
  showLogout();
  $("#announce").textContent = "Logged out";
  route(true);
});

/* ---------- routing ---------- */

const views = { "": dashboard, settings, devices, users, rules };

function route(force) {
  const hash = location.hash;
  // An in-page anchor such as the skip link's #main keeps the view shown.
  if (!force && hash && !hash.startsWith("#/") && $(".view")) return;
  const name = hash.slice(2).split("/")[0];
  const view = views[name] ? name : "";
  stopPolling();
  firstStart();
  // A login asked for by the page left behind is no longer wanted.
  if (!$("#login").hidden) login.finish(false);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.testid === "nav-" + (view || "dashboard")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = h("div", { class: "view" });
  $("#main").replaceChildren(root);
  // A view checks root.isConnected after each wait: the user may have moved on.
  views[view](root).catch((e) => root.append(h("p", { class: "status err", role: "alert", text: "Could not load: " + e.message })));
}

/* ---------- dashboard ---------- */

let poller = null;

function startPolling(fn) {
  poller = { fn, timer: 0, busy: false };
  tick();
}
function stopPolling() {
  if (poller) clearTimeout(poller.timer);
  poller = null;
  banner(null);
}
// One request at a time, the next a second after the last answer; none while
// the tab is hidden.
async function tick() {
  const p = poller;
  if (!p || p.busy || document.hidden) return;
  clearTimeout(p.timer);
  p.busy = true;
  try {
    await p.fn();
    if (poller === p) banner(null);
  } catch (e) {
    if (poller === p) banner("Connection lost: " + e.message + ". Trying again every second…");
  }
  p.busy = false;
  if (poller === p && !document.hidden) p.timer = setTimeout(tick, 1000);
}
document.addEventListener("visibilitychange", tick);

async function dashboard(root) {
  const summary = h("section", { class: "panel summary", "data-testid": "site-summary", "aria-labelledby": "site-h" });
  const grid = h("div", { class: "tiles" });
  const charts = historyPanel();
  // A fresh install has no devices: say so, and where to add them.
  const none = h(
    "section",
    { class: "panel notice", "data-testid": "no-devices", hidden: true },
    h("h2", { text: "No devices are configured" }),
    h("p", {}, "Load management does nothing until it knows your meters and wallboxes. Add them under ", h("a", { href: "#/devices", text: "Devices" }), ".")
  );
  root.append(h("h1", { text: "Dashboard" }), none, summary, charts.el, h("h2", { class: "sr-only", text: "Devices" }), grid);
  const tiles = new Map();
  let layout = "";
  startPolling(async () => {
    const info = await api("get_dev_info");
    if (!root.isConnected) return;
    siteTitle(info.params);
    none.hidden = info.devices.length > 0;
    renderSummary(summary, info.params);
    // Tiles are built once and then updated, so open controls keep their input.
    const now = info.devices.map((d) => d.dev_id + ":" + d.dev_type).join();
    if (now !== layout) {
      layout = now;
      tiles.clear();
      grid.replaceChildren(...info.devices.map((d) => tiles.set(d.dev_id, makeTile(d)).get(d.dev_id).el));
    }
    for (const d of info.devices) tiles.get(d.dev_id).update(d);
    // For bench/web.py: when the first answer was drawn.
    if (!performance.getEntriesByName("dashboard-rendered").length) performance.mark("dashboard-rendered");
    // The charts after the live numbers: their data is larger.
    await charts.update(info);
  });
}

function renderSummary(el, p) {
  const formula = !num(p.max_total_current);
  // A formula limit's value this cycle is only given as max_total_power
  // (three phases at the nominal voltage).
  const volts = num(p.voltage) && p.voltage > 0 ? p.voltage : 230;
  const limit = formula ? Math.round((p.max_total_power * 1000) / (3 * volts)) : p.max_total_current;
  const phases = [0, 1, 2].map((i) => [p.house_current?.[i] ?? 0, p.evse_current?.[i] ?? 0]);
  const scale = Math.max(limit, ...phases.map(([a, b]) => Math.max(a, 0) + Math.max(b, 0)), 1) * 1.05;
  const pct = (ma) => (Math.max(ma, 0) / scale) * 100 + "%";
  const seg = (cls, width, left) => {
    const s = h("span", { class: cls });
    s.style.width = width;
    if (left) s.style.left = left;
    return s;
  };
  const rows = phases.map(([house, cars], i) => {
    const over = house + cars > limit;
    const mark = h("span", { class: "limit" });
    mark.style.left = pct(limit);
    return h(
      "div",
      { class: "phase" + (over ? " over" : "") },
      h("span", { class: "ph", text: "L" + (i + 1) }),
      h("div", { class: "bar", "aria-hidden": "true" }, seg("house", pct(house)), seg("cars", pct(cars), pct(house)), mark),
      h("span", {
        class: "nums",
        text: `house ${amps(house)} + cars ${amps(cars)} = ${amps(house + cars)} of ${amps(limit)}` + (over ? " (over the limit)" : ""),
      })
    );
  });
  // What the cars may draw per phase, as what one car could get: a
  // one-phase car on the freest phase, a three-phase car on all three.
  const avail = [0, 1, 2].map((i) => Math.max(p.available_current?.[i] ?? 0, 0));
  const one = Math.max(...avail);
  const three = Math.min(...avail);
  const watts = (ma, n) => (ma * n * volts) / 1000;
  const facts = [
    `Limit per phase: ${amps(limit)}` + (formula ? ` (formula: ${p.max_total_current})` : ""),
    `Cars draw ${kw(p.cons_evse_power)}. All cars together may draw ${avail.map(amps).join(" / ")} on L1 / L2 / L3: ` +
      `a one-phase car up to ${amps(one)} (${kw(watts(one, 1))}, on L${avail.indexOf(one) + 1}), ` +
      `a three-phase car up to ${amps(three)} per phase (${kw(watts(three, 3))}).`,
  ];
  if (p.reserve_current > 0) facts.push(`Reserve kept free: ${amps(p.reserve_current)}`);
  if (p.overdraft_cur > 0) facts.push(`Overdraw seen: ${amps(p.overdraft_cur)} (subtracted for 5 minutes)`);
  if (!p.lb_enabled) facts.push("Observation mode: load management measures and reports but controls nothing.");
  if (p.meter_stale) facts.push("A site meter does not answer: every car gets its minimum current.");
  el.replaceChildren(
    h("h2", { id: "site-h", text: "Site" }),
    h("ul", { class: "facts" }, facts.map((t) => h("li", { text: t }))),
    h("div", { class: "phases" }, rows),
    h("p", { class: "legend" }, h("span", { class: "key house" }), "house load ", h("span", { class: "key cars" }), "cars ", h("span", { class: "key limit" }), "limit")
  );
}

/* ---------- history charts ---------- */

const RANGES = [["10 min", 600], ["1 h", 3600], ["6 h", 21600], ["48 h", 172800]];
const SVG_NS = "http://www.w3.org/2000/svg";
// The charts' own coordinates; the page stretches them to its width.
const CW = 600;
const CH = 100;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
  return el;
}

// A time for an axis or a readout: with seconds over short ranges, with
// the day over long ones.
function timeText(ms, span) {
  const opts = span > 86400000 ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
    : span > 3600000 ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  return new Date(ms).toLocaleString([], opts);
}

// The top of a chart: a little above the highest value, in steps of 5 A.
const niceTop = (ma) => Math.ceil((Math.max(ma, 1000) * 1.1) / 5000) * 5000;

// The answer's point times (it sends the first and the steps between).
function pointTimes(data) {
  let at = data.t0 ?? 0;
  return (data.dt || []).map((dt) => (at += dt));
}

// Index ranges without a gap (the daemon was stopped): a gap breaks the lines.
function segments(t) {
  const steps = t.slice(1).map((x, i) => x - t[i]).sort((a, b) => a - b);
  const gap = Math.max(3 * (steps[steps.length >> 1] || 0), 150000);
  const out = [];
  let start = 0;
  for (let i = 1; i <= t.length; i++) {
    if (i === t.length || t[i] - t[i - 1] > gap) {
      out.push([start, i]);
      start = i;
    }
  }
  return out.filter(([a, b]) => b > a);
}

// A chart: a caption, the plot (an SVG that scales), the axis ends and a
// line that reads out the values under the pointer.
function chartBox(testid, title) {
  const plot = svg("svg", { viewBox: `0 0 ${CW} ${CH}`, preserveAspectRatio: "none", role: "img", "data-testid": testid });
  const c = { plot, top: h("span", { class: "ytop" }), from: h("span"), to: h("span"), read: h("p", { class: "readout" }) };
  c.el = h("figure", { class: "chart" }, h("figcaption", { text: title }),
    h("div", { class: "plot" }, c.top, plot), h("div", { class: "xaxis" }, c.from, c.to), c.read);
  return c;
}

// Draws areas ({cls, lo, hi}) and lines ({cls, v}) over the times t (ms)
// from..to, values in mA; describe(i) puts point i in words.
function drawChart(c, { t, from, to, areas, lines, describe }) {
  const highest = Math.max(0, ...areas.flatMap((a) => a.hi), ...lines.flatMap((l) => l.v).filter(num));
  const top = niceTop(highest);
  const x = (ms) => (((ms - from) / Math.max(to - from, 1)) * CW).toFixed(1);
  const y = (ma) => (CH - (Math.min(Math.max(ma, 0), top) / top) * CH).toFixed(1);
  const kids = [];
  for (const [a, b] of segments(t)) {
    for (const { cls, lo, hi } of areas) {
      const upper = [];
      const lower = [];
      for (let i = a; i < b; i++) {
        if (!num(hi[i])) continue;
        upper.push(`${x(t[i])},${y(hi[i])}`);
        lower.unshift(`${x(t[i])},${y(lo ? lo[i] : 0)}`);
      }
      if (upper.length) kids.push(svg("polygon", { class: cls, "data-series": cls, points: upper.concat(lower).join(" ") }));
    }
    for (const { cls, v } of lines) {
      const points = [];
      for (let i = a; i < b; i++) if (num(v[i])) points.push(`${x(t[i])},${y(v[i])}`);
      if (points.length) kids.push(svg("polyline", { class: cls, "data-series": cls, points: points.join(" ") }));
    }
  }
  const cursor = svg("line", { class: "cursor", y1: 0, y2: CH, visibility: "hidden" });
  c.plot.replaceChildren(...kids, cursor);
  Object.assign(c.plot.dataset, { maxMa: top, from, to });
  c.top.textContent = amps(top);
  c.from.textContent = timeText(from, to - from);
  c.to.textContent = timeText(to, to - from);
  c.plot.setAttribute("aria-label", t.length ? describe(t.length - 1) : "No history yet");
  c.plot.onpointermove = (e) => {
    if (!t.length) return;
    const r = c.plot.getBoundingClientRect();
    const at = from + ((e.clientX - r.left) / Math.max(r.width, 1)) * (to - from);
    let i = t.findIndex((ms) => ms >= at);
    if (i < 0) i = t.length - 1;
    cursor.setAttribute("x1", x(t[i]));
    cursor.setAttribute("x2", x(t[i]));
    cursor.setAttribute("visibility", "visible");
    c.read.textContent = describe(i);
  };
  c.plot.onpointerleave = () => {
    cursor.setAttribute("visibility", "hidden");
    c.read.textContent = "";
  };
}

// The dashboard's history: the site per phase (house and cars stacked
// against the limit) and each wallbox (offered and drawn), with its
// charging sessions. Fetched every 5 s, about 600 points a chart.
function historyPanel() {
  let range = 3600;
  let due = 0;
  const st = h("p", { class: "status", role: "status" });
  const buttons = RANGES.map(([label, secs]) => {
    const b = h("button", { type: "button", class: "small", text: label, "aria-pressed": String(secs === range), "data-testid": "range-" + secs });
    b.addEventListener("click", () => {
      range = secs;
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
      due = 0;
      tick();
    });
    return b;
  });
  const phases = [1, 2, 3].map((n) => chartBox("chart-site-L" + n, "L" + n));
  const boxes = h("div", { class: "charts boxes" });
  const wallboxes = new Map();
  const el = h("section", { class: "panel history", "data-testid": "history", "aria-labelledby": "history-h" },
    h("h2", { id: "history-h", text: "History" }),
    h("div", { class: "buttons", role: "group", "aria-label": "Time range" }, buttons),
    h("div", { class: "charts" }, phases.map((c) => c.el)),
    h("p", { class: "legend" }, h("span", { class: "key house" }), "house load ", h("span", { class: "key cars" }), "cars ",
      h("span", { class: "key limit" }), "limit ", h("span", { class: "key drawn" }), "drawn ", h("span", { class: "key offered" }), "offered"),
    boxes, st);

  function wallbox(d) {
    let w = wallboxes.get(d.dev_id);
    if (!w) {
      const list = h("div");
      const sessions = h("details", { class: "sessions" }, h("summary", { text: "Charging sessions" }), list);
      sessions.addEventListener("toggle", () => sessions.open && loadSessions(d.dev_id, list));
      w = { chart: chartBox("chart-" + d.dev_id, ""), sessions };
      w.el = h("div", { class: "wallbox", "data-testid": "history-" + d.dev_id }, w.chart.el, sessions);
      wallboxes.set(d.dev_id, w);
    }
    w.chart.el.querySelector("figcaption").textContent = d.name ? `${d.name} (${d.dev_id})` : d.dev_id;
    return w;
  }

  async function update(info) {
    if (Date.now() < due) return;
    due = Date.now() + 5000;
    const to = Math.floor(Date.now() / 1000);
    const from = to - range;
    let data;
    try {
      data = await api("get_history", { from, to, step: Math.floor(range / 600) });
    } catch (e) {
      return say(st, "History: " + e.message, "err");
    }
    say(st, "");
    const t = pointTimes(data);
    const span = { t, from: from * 1000, to: to * 1000 };
    const site = data.site || {};
    phases.forEach((c, p) => {
      const n = p + 1;
      const current = site["current_l" + n] || [];
      const limit = site.limit || [];
      const house = (site["house_l" + n] || []).map((v) => Math.max(v, 0));
      const stacked = house.map((v, i) => v + Math.max(current[i] - v, 0));
      drawChart(c, { ...span, areas: [{ cls: "house", hi: house }, { cls: "cars", lo: house, hi: stacked }],
        lines: [{ cls: "limit", v: limit }],
        describe: (i) => `L${n} ${timeText(t[i], 0)}: house ${amps(site["house_l" + n][i])}, cars ${amps(stacked[i] - house[i])}, limit ${amps(limit[i])}` });
    });
    const evses = info.devices.filter((d) => d.is_evse && d.dev_type !== "evse_group");
    for (const d of evses) {
      const w = wallbox(d);
      const s = data.evses?.[d.dev_id] || { offered: [], drawn: [], power: [] };
      drawChart(w.chart, { ...span, areas: [{ cls: "drawn", hi: s.drawn }], lines: [{ cls: "offered", v: s.offered }],
        describe: (i) => `${d.dev_id} ${timeText(t[i], 0)}: offered ${amps(s.offered[i])}, drawing ${amps(s.drawn[i])}, ${kw(s.power[i])}` });
    }
    const order = evses.map((d) => wallboxes.get(d.dev_id).el);
    if (order.some((e, i) => boxes.children[i] !== e) || boxes.children.length !== order.length) boxes.replaceChildren(...order);
  }
  return { el, update };
}

// A wallbox's last finished sessions from the charging log (needs the
// admin password), newest first, with the users' names.
async function loadSessions(devId, list) {
  list.replaceChildren(h("p", { text: "Loading…" }));
  try {
    const csv = await (await api("get_ta_log", {}, undefined, { blob: true })).text();
    const names = {};
    for (const u of await api("get_users")) names[u.id] = u.name || u.id;
    const rows = csv.trim().split("\n").slice(1).map((line) => line.split(","))
      .filter((r) => r[0] === devId).slice(-10).reverse();
    const when = (secs) => new Date(+secs * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
    if (!rows.length) return list.replaceChildren(h("p", { text: "No finished charging session yet." }));
    list.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, ["Start", "End", "Energy", "User"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows.map(([, user, , start, end, wh]) => h("tr", {},
        h("td", { text: when(start) }), h("td", { text: when(end) }), h("td", { text: kwh(+wh) }), h("td", { text: names[user] || user || "—" }))))));
  } catch (e) {
    list.replaceChildren(h("p", { class: "status err", text: e.message }));
  }
}

const ROLES = ["Display only", "Consumption", "Production", "Grid", "EV consumption", "Storage (home)", "Storage (all)"];
const EVSE_STATES = { 1: "No car", 2: "Car waiting", 3: "Charging", 4: "Charging with ventilation", 5: "Error: wallbox fault", 6: "Error: no answer" };

// [state in words, colour class]: the words carry the meaning, colour only helps.
function stateOf(d, kind) {
  if (!d.device_enabled) return ["Disabled", "off"];
  if (kind === "group") return ["Group", "idle"];
  if (d.com_err || d.model === "failed to connect") return ["Error: no answer", "err"];
  if (d.model === "starting") return ["Starting", "idle"];
  if (kind === "meter") return ["Measuring", "ok"];
  if (!num(d.state)) return ["No reading yet", "idle"];
  const text = EVSE_STATES[d.state] || "Unknown state " + d.state;
  return [d.paused ? text + " (paused)" : text, d.state >= 5 ? "err" : d.state >= 3 ? "ok" : "idle"];
}

// lb_reason in words; an unknown reason is shown as it is.
const REASONS = [
  [/^max_charging_cur$/, () => "At its maximum (setting, cable or override)"],
  [/^charging rule (\S+)$/, (m) => `Limited by charging rule ${m[1]}`],
  [/^site (L\d)$/, (m) => `Site limit reached on ${m[1]}`],
  [/^group (E\d+) (L\d)$/, (m) => `Group ${m[1]} is full on ${m[2]}`],
  [/^max_total_evse_current (L\d)$/, (m) => `Limit for all wallboxes reached on ${m[1]}`],
  [/^imbalance (L\d)$/, (m) => `Reduced: phase imbalance on ${m[1]}`],
  [/^paused: no minimum \((.+)\)$/, (m) => `Paused: the minimum current does not fit (${m[1]})`],
  [/^paused: imbalance (L\d)$/, (m) => `Paused: phase imbalance on ${m[1]}`],
  [/^paused: (\d+) s left of its minimum pause$/, (m) => `Paused: ${m[1]} s left of its minimum pause`],
  [/^meter stale: (\S+)/, (m) => `Meter ${m[1]} does not answer: minimum current only`],
  [/^com error$/, () => "The wallbox does not answer"],
  [/^no vehicle$/, () => "No car plugged in"],
  [/^wallbox error$/, () => "The wallbox reports an error"],
  [/^no reading yet$/, () => "No reading yet"],
  [/^disabled$/, () => "Disabled: no current"],
  [/^disabled: minimum current$/, () => "Disabled: minimum current"],
  [/^disabled: no limit$/, () => "Disabled: not limited"],
  [/^disabled by override$/, () => "Charging stopped by override"],
  [/^waiting for authorisation$/, () => "Waiting for a card or PIN"],
  [/^charging rule (\S+): (-?\d+) mA$/, (m) => `Charging rule ${m[1]} allows only ${amps(+m[2])}`],
  [/^not controlled$/, () => "Not controlled"],
];
function reasonText(r) {
  if (!r) return "—";
  for (const [re, words] of REASONS) {
    const m = re.exec(r);
    if (m) return words(m);
  }
  return r;
}

const OVERRIDES = { C: "charging stopped", E: "wallbox rules off", U: "user rules off" };
// get_dev_info reports the overrides as a bit mask: bit 0 C, bit 1 E, bit 2 U.
const OVERRIDE_BITS = { C: 1, E: 2, U: 4 };
const overridden = (d, flag) => num(d.overrides) && (d.overrides & OVERRIDE_BITS[flag]) !== 0;

function makeTile(d) {
  const kind = d.dev_type === "evse_group" ? "group" : d.is_evse ? "evse" : "meter";
  const v = {};
  const dl = h("dl");
  const row = (key, label, testid) => dl.append(h("dt", { text: label }), (v[key] = h("dd", { "data-testid": testid })));
  const name = h("span");
  const id = h("span", { class: "devid" });
  const type = h("p", { class: "type" });
  const state = h("p", { class: "state", "data-testid": "state" });
  const hid = "t-" + d.dev_id;
  const el = h("article", { class: "tile " + kind, "data-testid": "tile-" + d.dev_id, "aria-labelledby": hid },
    h("h3", { id: hid }, name, " ", id), type, state, dl);
  let controls = null;
  if (kind === "evse") {
    row("offered", "Offered", "charging-current");
    row("currents", "Drawing L1 / L2 / L3");
    row("power", "Power");
    row("energy", "Energy");
    row("reason", "Why");
    row("rule", "Charging rule");
    row("user", "User");
    row("overrides", "Overrides");
    controls = evseControls(d.dev_id);
    el.append(controls.el);
  } else if (kind === "group") {
    row("limit", "Limit per phase");
    row("parent", "In group");
  } else {
    row("role", "Role");
    row("power", "Power");
    row("currents", "Current L1 / L2 / L3");
    row("voltages", "Voltage L1 / L2 / L3");
    row("energy", "Energy in / out");
  }
  if (kind !== "group") row("errors", "Communication errors");

  const perPhase = (d, key, unit) =>
    [1, 2, 3].map((n) => d[key + n]).every(num)
      ? [1, 2, 3].map((n) => (unit === "V" ? d[key + n] : (d[key + n] / 1000).toFixed(1))).join(" / ") + " " + unit
      : "—";
  function update(d) {
    name.textContent = d.name || d.dev_id;
    id.textContent = d.name ? d.dev_id : "";
    type.textContent = d.desc + " · " + d.dev_type;
    const [text, cls] = stateOf(d, kind);
    state.textContent = text;
    state.className = "state " + cls;
    el.className = "tile " + kind + " " + cls;
    if (kind === "evse") {
      // charging_cur where the daemon gives it, else what load management offers now.
      v.offered.textContent = amps(num(d.charging_cur) ? d.charging_cur : d.lb_current);
      v.currents.textContent = perPhase(d, "current_l", "A");
      v.power.textContent = kw(d.cur_charging_power);
      v.energy.textContent = kwh(d.total_energy);
      // A user's rule is named by the user's name, as in the rule row below.
      const named = (text) => (d.user && d.user_name ? text.replace(d.user + "/", d.user_name + "/") : text);
      v.reason.textContent = named(reasonText(d.lb_reason));
      // A user's rule is shown under the user's name rather than the id.
      const ruleId = d.user && d.user_name && d.rule_id?.startsWith(d.user + "/")
        ? d.user_name + d.rule_id.slice(d.user.length) : d.rule_id;
      v.rule.textContent = !ruleId
        ? "No rules"
        : ruleId.endsWith("/none")
          ? `${ruleId.slice(0, -5)}: no rule matches`
          : `${ruleId}: ${amps(d.rule_current)}`;
      v.user.textContent = d.user_name || d.user || (d.needs_auth ? "none yet (needs a card or PIN)" : "—");
      const overrides = Object.keys(OVERRIDES).filter((f) => overridden(d, f)).map((f) => OVERRIDES[f]);
      if (num(d.ov_cur) && d.ov_cur >= 0) overrides.push("at most " + amps(d.ov_cur));
      v.overrides.textContent = overrides.join(", ") || "none";
      controls.update(d);
    } else if (kind === "group") {
      v.limit.textContent = num(d.max_charging_cur) ? amps(d.max_charging_cur) : "formula: " + d.max_charging_cur;
      v.parent.textContent = d.group ? "E" + d.group : "none";
    } else {
      v.role.textContent = ROLES[d.role] ?? String(d.role);
      v.power.textContent = kw(d.power_w);
      v.currents.textContent = perPhase(d, "current_l", "A");
      v.voltages.textContent = perPhase(d, "voltage_l", "V");
      v.energy.textContent = kwh(d.import) + " / " + kwh(d.export);
    }
    if (v.errors)
      v.errors.textContent = String(d.com_errors ?? 0) + (d.last_error ? ` (last: ${d.last_error})` : "");
  }
  return { el, update };
}

// Overrides (until the car is unplugged) and entering a card or PIN.
function evseControls(devId) {
  const st = h("p", { class: "status", role: "status", "aria-live": "polite" });
  async function act(cmd, query, done) {
    say(st, "Sending…");
    try {
      const answer = await api(cmd, { dev_id: devId, ...query });
      say(st, done(answer), "ok");
      tick();
    } catch (e) {
      say(st, e.message, "err");
    }
  }
  // [flag that turns it on, words when off, words when on]
  const toggles = [
    ["C", "Stop charging", "Allow charging again"],
    ["E", "Switch wallbox rules off", "Switch wallbox rules on"],
    ["U", "Switch user rules off", "Switch user rules on"],
  ].map(([flag, off, on]) => {
    const b = h("button", { type: "button" });
    b.addEventListener("click", () => {
      const f = b.dataset.on ? flag.toLowerCase() : flag;
      act("override_device", { flags: f }, () => `Done (${f}); lasts until the car is unplugged`);
    });
    return { b, flag, off, on };
  });
  const mampsId = devId + "-mamps";
  const rfidId = devId + "-rfid";
  const mamps = h("input", { id: mampsId, type: "number", min: "0", max: "1000", step: "0.1", inputMode: "decimal" });
  const rfid = h("input", { id: rfidId, type: "text", autocomplete: "off", inputMode: "text" });
  const limitForm = h("form", { class: "inline", noValidate: true },
    h("label", { for: mampsId, text: "Limit the current to (A)" }), mamps, h("button", { text: "Set limit" }));
  limitForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const a = parseFloat(mamps.value);
    if (!(a >= 0)) return say(st, "Enter a current in amperes, e.g. 8", "err");
    const ma = Math.round(a * 1000);
    act("override_device", { mamps: ma }, () => `Limited to ${amps(ma)} until the car is unplugged`);
  });
  const rfidForm = h("form", { class: "inline", noValidate: true },
    h("label", { for: rfidId, text: "Card (RFID) or PIN" }), rfid, h("button", { text: "Enter" }));
  rfidForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!rfid.value.trim()) return say(st, "Enter a card id or PIN", "err");
    act("enter_rfid", { rfid: rfid.value.trim() }, (at) => `Accepted at ${at}`);
  });
  const el = h("details", { class: "controls" }, h("summary", { text: "Controls" }),
    h("div", { class: "buttons" }, toggles.map((t) => t.b)), limitForm, rfidForm, st);
  function update(d) {
    for (const t of toggles) {
      const on = overridden(d, t.flag);
      t.b.textContent = on ? t.on : t.off;
      if (on) t.b.dataset.on = "1";
      else delete t.b.dataset.on;
    }
  }
  return { el, update };
}

/* ---------- forms ---------- */

// One labelled input. def = [key, label, type, hint or options]; type is
// text, number, formula (a number of mA or a formula text), check or select
// (options: [[value, words], …]). read() gives the value for the API,
// undefined for an empty optional field.
function field([key, label, type, extra], value, prefix, name = key) {
  const id = prefix + key;
  let input;
  if (type === "select") {
    input = h("select", { id, name }, extra.map(([v, t]) => h("option", { value: String(v), text: t })));
    if (value != null) input.value = String(value);
  } else if (type === "check") {
    input = h("input", { id, name, type: "checkbox", checked: !!value });
  } else {
    const numeric = type === "number" || type === "optional";
    input = h("input", { id, name, type: numeric ? "number" : "text", value: value ?? "" });
    if (numeric) input.step = "any";
  }
  const hint = type !== "select" && extra ? h("small", { id: id + "-hint", text: extra }) : null;
  if (hint) input.setAttribute("aria-describedby", hint.id);
  const lab = h("label", { for: id, text: label });
  const wrap = type === "check" ? h("div", { class: "field check" }, input, lab, hint) : h("div", { class: "field" }, lab, input, hint);
  const f = {
    key, wrap, input, label,
    read() {
      if (type === "check") return input.checked;
      if (type === "select") {
        const o = extra[input.selectedIndex];
        return o ? o[0] : undefined;
      }
      const t = input.value.trim();
      if (type === "text") return input.value;
      // An optional number is cleared by emptying its field.
      if (t === "") return type === "optional" ? null : undefined;
      // A number is sent as a number (the daemon refuses a fraction of a
      // mA), anything else as a formula.
      if (type === "formula") return /^-?\d+(\.\d*)?(e[+-]?\d+)?$/i.test(t) ? Number(t) : t;
      const n = Number(t);
      if (!Number.isFinite(n)) throw new Error(`${label}: "${t}" is not a number`);
      return n;
    },
  };
  f.orig = value == null ? (type === "optional" ? null : undefined) : f.read();
  return f;
}

// The fields that differ from what was loaded; an emptied field is an error.
function changes(fields, all) {
  const out = {};
  for (const f of fields) {
    if (f.wrap.hidden) continue;
    const v = f.read();
    if (v === undefined) {
      if (f.orig !== undefined) throw new Error(`${f.label}: needs a value`);
      continue;
    }
    if (all || !same(v, f.orig)) out[f.key] = v;
  }
  return out;
}

/* ---------- settings ---------- */

const PARAMS = [
  ["title", "Title", "text"],
  ["desc", "Description", "text"],
  ["max_total_current", "Site limit per phase (mA)", "formula",
    "The main fuse, in mA, or a formula, e.g. date.hour >= 17 && date.hour < 20 ? 20000 : 32000"],
  ["reserve_current", "Reserve kept free (mA)", "number"],
  ["max_total_evse_current", "Limit for all wallboxes together (mA, 0 = none)", "number"],
  ["lb_enabled", "Load management controls the wallboxes (off: observation mode)", "check"],
  ["disable_policy", "A disabled wallbox gets", "select", [[0, "nothing (off)"], [1, "its minimum current"], [-1, "no limit"]]],
  ["max_imbalance", "Largest phase imbalance (mA, 0 = off)", "number"],
  ["imbalance_add", "Count all loads in the imbalance, not only the cars", "check"],
  ["min_pause_time", "Shortest pause of a car (s)", "number"],
  ["cycle_time_ms", "Cycle time (ms)", "number"],
  ["meter_timeout_s", "A silent grid meter puts the cars on their minimum after (s)", "number"],
  ["evse_fault_after_s", "A silent wallbox counts at its fail-safe current after (s)", "number"],
  ["voltage", "Nominal voltage (V)", "number"],
  ["price_level", "Price level for price rules (empty = none)", "optional",
    "-2 very expensive … -6 very cheap; rules with price_level match while it is at most theirs"],
];

async function settings(root) {
  const st = statusEl("params-status");
  const form = h("form", { class: "panel form", noValidate: true, "aria-labelledby": "params-h" });
  root.append(h("h1", { text: "Settings" }), form, cmVarsPanel(), passwordPanel(), logPanel());
  // get_params has the parameters at the top level, as cFos firmware does.
  const p = await api("get_params");
  if (!root.isConnected) return;
  siteTitle(p);
  const fields = PARAMS.map((def) => field(def, p[def[0]], "p-"));
  const overdraft = h("p", { text: `Overdraw seen: ${amps(p.overdraft_cur)}` });
  const reset = h("button", { type: "button", text: "Reset the overdraw to 0" });
  reset.addEventListener("click", () => save({ overdraft_cur: 0 }, "Overdraw reset"));
  form.append(
    h("h2", { id: "params-h", text: "Load management" }),
    ...fields.map((f) => f.wrap),
    h("div", { class: "buttons" }, overdraft, reset),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "params-save", text: "Save" })),
    st
  );
  async function save(change, done) {
    say(st, "Saving…");
    try {
      await api("set_params", {}, change);
      for (const f of fields) f.orig = f.read();
      say(st, done, "ok");
    } catch (e) {
      say(st, e.message, "err");
    }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    let change;
    try {
      change = changes(fields);
    } catch (err) {
      return say(st, err.message, "err");
    }
    if (!Object.keys(change).length) return say(st, "Nothing changed");
    save(change, "Saved");
  });
}

// The charging-manager variables (set_cm_vars), which formulas read as CM.<name>.
function cmVarsPanel() {
  const st = statusEl("cm-vars-status");
  const list = h("dl", { class: "vars", "data-testid": "cm-vars" });
  const name = h("input", { id: "cm-name", name: "cm_name", type: "text", autocomplete: "off" });
  const value = h("input", { id: "cm-value", name: "cm_value", type: "text", inputMode: "decimal", autocomplete: "off" });
  const form = h("form", { class: "form", noValidate: true },
    h("div", { class: "field" }, h("label", { for: "cm-name", text: "Name" }), name),
    h("div", { class: "field" }, h("label", { for: "cm-value", text: "Value (empty removes it)" }), value),
    h("div", { class: "buttons" }, h("button", { type: "submit", "data-testid": "cm-var-save", text: "Set" })), st);
  async function load() {
    const vars = await api("get_cm_vars");
    const names = Object.keys(vars);
    list.replaceChildren(...(names.length
      ? names.flatMap((k) => [h("dt", { text: "CM." + k }), h("dd", { text: String(vars[k]) })])
      : [h("dd", { text: "None set." })]));
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    if (!n) return say(st, "Enter the variable's name", "err");
    say(st, "Saving…");
    try {
      await api("set_cm_vars", { name: n, val: value.value.trim() });
      say(st, value.value.trim() ? `CM.${n} set` : `CM.${n} removed`, "ok");
      await load();
    } catch (err) {
      say(st, err.message, "err");
    }
  });
  load().catch((err) => say(st, err.message, "err"));
  return h("section", { class: "panel", "aria-labelledby": "cm-h" },
    h("h2", { id: "cm-h", text: "Charging-manager variables" }),
    h("p", { class: "hint", text: "Formulas read them as CM.<name>. Home Assistant's set_variable and other clients set them with set_cm_vars." }),
    list, form);
}

function passwordPanel() {
  const st = statusEl("password-status");
  const pw = (id, label, auto) => [h("label", { for: id, text: label }), h("input", { id, type: "password", autocomplete: auto })];
  const form = h("form", { class: "panel form", noValidate: true, "aria-labelledby": "pwd-h" },
    h("h2", { id: "pwd-h", text: "Admin password" }),
    h("input", { type: "text", name: "username", autocomplete: "username", value: "admin", hidden: true }),
    h("div", { class: "field" }, pw("pw-old", "Current password (empty if none is set)", "current-password")),
    h("div", { class: "field" }, pw("pw-new", "New password (empty removes the password)", "new-password")),
    h("div", { class: "field" }, pw("pw-again", "New password again", "new-password")),
    h("div", { class: "buttons" }, h("button", { type: "submit", text: "Change password" })),
    st);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const [o, n, a] = ["#pw-old", "#pw-new", "#pw-again"].map((s) => $(s, form).value);
    if (n !== a) return say(st, "The two new passwords differ", "err");
    say(st, "Changing…");
    try {
      // A wrong current password is this form's error, not a reason to log in.
      await api("change_admin_pwd", {}, { old_pwd: o, new_pwd: n }, { noLogin: true });
      // Sessions end with the old password.
      sessionStorage.removeItem(TOKEN);
      if (n) await logIn(n);
      showLogout();
      firstStart();
      form.reset();
      say(st, n ? "Password changed" : "Password removed: anyone on the network can now change settings", "ok");
    } catch (err) {
      say(st, err.message, "err");
    }
  });
  return form;
}

function logPanel() {
  const st = statusEl("log-status");
  const b = h("button", { type: "button", text: "Download the charging log (CSV)" });
  b.addEventListener("click", async () => {
    say(st, "Loading…");
    try {
      const blob = await api("get_ta_log", {}, undefined, { blob: true });
      if (!blob.size) return say(st, "The charging log is empty", "ok");
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: "charging_log.csv" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      say(st, `Downloaded charging_log.csv (${blob.size} bytes)`, "ok");
    } catch (e) {
      say(st, e.message, "err");
    }
  });
  return h("section", { class: "panel", "aria-labelledby": "log-h" },
    h("h2", { id: "log-h", text: "Charging log" }),
    h("p", { text: "Every finished charge: wallbox, user, card, start, end and energy." }), b, st);
}

/* ---------- devices ---------- */

const isEvse = (t) => t.startsWith("evse_");
const isBox = (t) => isEvse(t) && t !== "evse_group";
const isModbus = (t) => t !== "evse_group" && !t.endsWith("_ajax");
const always = () => true;
const DEVICE_FIELDS = [
  [["name", "Name", "text"], always],
  [["desc", "Description", "text"], always],
  [["address", "Address", "text", "host:port, a serial line such as /dev/ttyUSB0,9600,8,n,1, or evse, meter1, meter2"], isModbus],
  [["id", "Modbus unit id", "number", "1 to 247"], isModbus],
  [["device_enabled", "Enabled", "check"], always],
  [["label", "Label (shown while a car is plugged in)", "text"], isBox],
  [["min_charging_cur", "Minimum current (mA)", "number", "at least 6000"], isBox],
  [["max_charging_cur", "Maximum current per phase (mA)", "formula", "A number of mA, or a formula, e.g. 20000 - M1.current"], isEvse],
  [["prio", "Priority (higher is served first)", "number"], isBox],
  [["phase_rotation", "Phase rotation", "select", [[0, "0° (L1 L2 L3)"], [120, "120° (L2 L3 L1)"], [240, "240° (L3 L1 L2)"]]], isBox],
  [["used_phases", "Phases used", "select",
    [[0, "detect"], [1, "L1"], [2, "L2"], [4, "L3"], [3, "L1 + L2"], [5, "L1 + L3"], [6, "L2 + L3"], [7, "L1 + L2 + L3"]]], isBox],
  [["group", "Group (number n of its evse_group En; 0 = none)", "number"], isEvse],
  [["attach", "Meter that measures this wallbox (its dev_id; empty = its own meter)", "text"], isBox],
  [["role", "Role", "select", ROLES.map((r, i) => [i, r])], (t) => !isEvse(t)],
  [["invert", "Invert currents and power (mounted the other way round)", "check"], (t) => !isEvse(t)],
  [["timeout_s", "Values count as missing after (s)", "number", "empty: unchanged (60 for a new device)"], (t) => t.endsWith("_ajax")],
];
const DEVICE_DEFAULTS = { id: 1, device_enabled: true, min_charging_cur: 6000, max_charging_cur: 16000, prio: 1, phase_rotation: 0, used_phases: 0, group: 0, role: 0, invert: false };

async function devices(root) {
  const st = statusEl("devices-status");
  const list = h("ul", { class: "rows" });
  const panel = h("section", { class: "panel", hidden: true, "aria-labelledby": "dev-form-h" });
  const add = h("button", { type: "button", class: "primary", "data-testid": "device-new", text: "Add a device" });
  add.addEventListener("click", () => openForm());
  root.append(h("h1", { text: "Devices" }), h("div", { class: "buttons" }, add), panel, st, list);
  let info;

  async function load() {
    info = await api("get_params");
    if (!root.isConnected) return;
    list.replaceChildren(...info.devices.map(row));
  }

  async function run(cmd, devId, done) {
    say(st, "Working…");
    try {
      await api(cmd, { dev_id: devId });
      say(st, done, "ok");
      await load();
    } catch (e) {
      say(st, e.message, "err");
    }
  }

  function row(d) {
    const edit = h("button", { type: "button", text: "Edit", "aria-label": "Edit " + d.dev_id });
    const reset = h("button", { type: "button", text: "Reset", "aria-label": "Reset " + d.dev_id });
    const del = h("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + d.dev_id, "data-testid": "device-delete" });
    const confirm = h("button", { type: "button", class: "danger", text: `Yes, delete ${d.dev_id}`, "data-testid": "device-delete-confirm" });
    const keep = h("button", { type: "button", text: "Keep it" });
    // Asked here in the page: browser dialogs would block automated use.
    const ask = h("span", { class: "confirm", hidden: true }, h("span", { text: `Delete ${d.dev_id} for good? ` }), confirm, keep);
    edit.addEventListener("click", () => openForm(d));
    reset.addEventListener("click", () => run("reset_device", d.dev_id, `${d.dev_id} was reset (stopped and started afresh)`));
    del.addEventListener("click", () => {
      del.hidden = true;
      ask.hidden = false;
      confirm.focus();
    });
    keep.addEventListener("click", () => {
      ask.hidden = true;
      del.hidden = false;
      del.focus();
    });
    confirm.addEventListener("click", () => run("del_device", d.dev_id, `${d.dev_id} deleted`));
    return h("li", { class: "row", "data-testid": "device-row-" + d.dev_id },
      h("div", { class: "what" }, h("strong", { text: d.dev_id }), " ", h("span", { text: d.name || "" }),
        h("small", { text: `${d.desc} · ${d.dev_type}` + (d.address ? " · " + d.address : "") })),
      h("div", { class: "buttons" }, edit, reset, del, ask));
  }

  function nextId(type) {
    const prefix = isEvse(type) ? "E" : "M";
    const used = new Set(info.devices.map((d) => d.dev_id.toUpperCase()));
    let n = 1;
    while (used.has(prefix + n)) n++;
    return prefix + n;
  }

  function openForm(d) {
    if (!info) return;
    const isNew = !d;
    const src = d || DEVICE_DEFAULTS;
    const types = Object.entries(info.dev_meta || {});
    const typeField = field(["dev_type", "Type", "select", types.map(([k, n]) => [k, `${n} (${k})`])], d ? d.dev_type : "evse_powerbrain", "d-");
    const idField = field(["dev_id", "Device id (E<n> for wallboxes and groups, M<n> for meters)", "text"], d ? d.dev_id : nextId("evse_powerbrain"), "d-");
    idField.input.readOnly = !isNew;
    idField.input.required = true;
    let idTouched = false;
    idField.input.addEventListener("input", () => (idTouched = true));
    const fields = DEVICE_FIELDS.map(([def, when]) => Object.assign(field(def, src[def[0]], "d-"), { when }));
    const show = () => {
      const t = typeField.read();
      for (const f of fields) f.wrap.hidden = !f.when(t);
      if (isNew && !idTouched) idField.input.value = nextId(t);
    };
    typeField.input.addEventListener("change", show);
    const cancel = h("button", { type: "button", text: "Cancel" });
    const form = h("form", { class: "form", noValidate: true },
      typeField.wrap, idField.wrap, fields.map((f) => f.wrap),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "device-save", text: isNew ? "Add device" : "Save" }), cancel),
    );
    cancel.addEventListener("click", () => {
      panel.hidden = true;
      add.focus();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const devId = idField.input.value.trim();
      const body = { dev_id: devId };
      try {
        const type = typeField.read();
        if (isNew || type !== d.dev_type) body.dev_type = type;
        Object.assign(body, changes(fields, isNew));
      } catch (err) {
        return say(st, err.message, "err");
      }
      if (Object.keys(body).length === 1) return say(st, "Nothing changed");
      say(st, "Saving…");
      try {
        // set_params changes a device it already has: adding must not.
        // Asked now, not from the list shown, which another client may
        // have changed since.
        if (isNew) {
          const now = await api("get_params");
          if (now.devices.some((x) => x.dev_id.toUpperCase() === devId.toUpperCase())) {
            return say(st, `${devId} already exists: choose another device id, or edit ${devId}`, "err");
          }
        }
        await api("set_params", {}, { devices: [body] });
        panel.hidden = true;
        say(st, `Saved ${devId}`, "ok");
        await load();
      } catch (err) {
        say(st, err.message, "err");
      }
    });
    panel.replaceChildren(h("h2", { id: "dev-form-h", text: isNew ? "Add a device" : "Edit " + d.dev_id }), form);
    panel.hidden = false;
    show();
    say(st, "");
    typeField.input.focus();
  }

  await load();
}

/* ---------- users ---------- */

async function users(root) {
  const st = statusEl("users-status");
  const list = h("ul", { class: "rows" });
  const panel = h("section", { class: "panel", hidden: true, "aria-labelledby": "user-form-h" });
  const add = h("button", { type: "button", class: "primary", "data-testid": "user-new", text: "Add a user" });
  add.addEventListener("click", () => openForm());
  root.append(h("h1", { text: "Users" }),
    h("p", { class: "hint", text: "A car plugged into a wallbox that has users charges once one of them presents a card or PIN. Users cannot be deleted through the API: take away their cards and wallboxes instead." }),
    h("div", { class: "buttons" }, add), panel, st, list);
  let all = [];
  let boxes = [];

  async function load() {
    const [u, info] = await Promise.all([api("get_users"), api("get_dev_info")]);
    if (!root.isConnected) return;
    all = u;
    boxes = info.devices.filter((d) => isBox(d.dev_type));
    list.replaceChildren(...all.map(row));
    if (!all.length) list.append(h("li", { class: "row", text: "No users yet." }));
  }

  function row(u) {
    const edit = h("button", { type: "button", text: "Edit", "aria-label": "Edit " + (u.name || u.id) });
    edit.addEventListener("click", () => openForm(u));
    const cards = (u.rfids || []).map((r) => r.id).join(", ");
    return h("li", { class: "row", "data-testid": "user-row-" + u.id },
      h("div", { class: "what" }, h("strong", { class: "uname", text: u.name || "(no name)" }),
        h("span", { class: "cards", text: "Cards: " + (cards || "none") }),
        h("small", { text: `Wallboxes: ${(u.dev_ids || []).join(", ") || "none"} · id ${u.id}` })),
      h("div", { class: "buttons" }, edit));
  }

  function openForm(u) {
    const isNew = !u;
    const rfids = u?.rfids || [];
    const nameF = field(["name", "Name", "text"], u?.name ?? "", "u-", "user_name");
    const dispF = field(["display", "Show the name while plugged in", "check"], u?.display === true, "u-");
    const cardsF = field(["cards", "Cards and PINs", "text", "Comma-separated card ids or PINs (letters and digits)"],
      rfids.map((r) => r.id).join(", "), "u-");
    const boxChecks = boxes.map((b) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "dev_ids", value: b.dev_id, checked: (u?.dev_ids || []).includes(b.dev_id) }), ` ${b.name || b.dev_id} (${b.dev_id})`));
    // A right is the same for all cards here; where the cards differ the box
    // stays undecided and each card keeps its own until it is clicked.
    const right = (key, label, dflt) => {
      const vals = rfids.map((r) => r[key]);
      const input = h("input", { type: "checkbox", id: "u-" + key, checked: vals.length ? vals.every(Boolean) : dflt });
      if (vals.length && !vals.every((x) => x === vals[0])) input.indeterminate = true;
      return { key, dflt, input, wrap: h("div", { class: "field check" }, input, h("label", { for: input.id, text: label })) };
    };
    const rights = [right("ac_auth", "A card or PIN starts charging", true), right("ac_ovch", "Presenting it again stops charging", false)];
    const cancel = h("button", { type: "button", text: "Cancel" });
    cancel.addEventListener("click", () => {
      panel.hidden = true;
      add.focus();
    });
    const form = h("form", { class: "form", noValidate: true },
      nameF.wrap, dispF.wrap,
      h("fieldset", { class: "boxes" }, h("legend", { text: "May charge at" }), boxChecks.length ? boxChecks : h("p", { text: "No wallboxes." })),
      cardsF.wrap, rights.map((r) => r.wrap),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "user-save", text: isNew ? "Add user" : "Save" }), cancel));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const old = new Map(rfids.map((r) => [r.id.toLowerCase(), r]));
      const cards = cardsF.input.value.split(/[\s,;]+/).filter(Boolean);
      const body = {
        ...(u || {}),
        name: nameF.input.value.trim(),
        display: dispF.input.checked,
        dev_ids: [...form.querySelectorAll('input[name="dev_ids"]:checked')].map((i) => i.value),
        rfids: cards.map((id) => {
          const card = { ...(old.get(id.toLowerCase()) || {}), id };
          for (const r of rights) card[r.key] = r.input.indeterminate ? card[r.key] ?? r.dflt : r.input.checked;
          return card;
        }),
      };
      say(st, "Saving…");
      try {
        if (isNew) body.id = await api("get_new_user_id");
        await api("set_user", {}, body);
        panel.hidden = true;
        say(st, `Saved ${body.name || body.id}`, "ok");
        await load();
      } catch (err) {
        say(st, err.message, "err");
      }
    });
    panel.replaceChildren(h("h2", { id: "user-form-h", text: isNew ? "Add a user" : "Edit " + (u.name || u.id) }), form);
    panel.hidden = false;
    nameF.input.focus();
  }

  await load();
}

/* ---------- charging rules ---------- */

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MODES = ["Fixed current (mA)", "Percent of the wallbox maximum", "Solar current", "Percent of the solar current", "Solar current less a value (mA)", "Solar surplus"];
const hhmm = (min) => (num(min) ? String(Math.floor(min / 60)).padStart(2, "0") + ":" + String(min % 60).padStart(2, "0") : "");
let ruleSeq = 0;

function ruleFieldset(r) {
  const u = "r" + ++ruleSeq + "-";
  const input = (key, label, value, type = "text", hint) => {
    const i = h("input", { id: u + key, name: key, type, value: value ?? "" });
    if (type === "number") i.step = "any";
    if (hint) i.setAttribute("aria-describedby", u + key + "-hint");
    return h("div", { class: "field" }, h("label", { for: u + key, text: label }), i, hint && h("small", { id: u + key + "-hint", text: hint }));
  };
  const legend = h("legend");
  const move = (text) => h("button", { type: "button", class: "small", text });
  const [up, down, del] = [move("Move up"), move("Move down"), move("Remove")];
  const fs = h("fieldset", { class: "rule panel" }, legend,
    h("div", { class: "field check" }, h("input", { id: u + "enabled", name: "enabled", type: "checkbox", checked: r.enabled !== false }), h("label", { for: u + "enabled", text: "Enabled" })),
    h("fieldset", { class: "days" }, h("legend", { text: "Days" }),
      DAYS.map((d, i) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "days", value: String(1 << i), checked: ((r.days ?? 127) >> i) & 1 }), " " + d))),
    h("div", { class: "field" }, h("label", { for: u + "mode", text: "Mode" }),
      h("select", { id: u + "mode", name: "mode" }, MODES.map((m, i) => h("option", { value: String(i), text: `${m} (${i})`, selected: (r.mode ?? 0) === i })))),
    input("current", "Current (mA; percent for the percent modes)", r.current, "number", "Not used by modes 2 and 5 or with a formula; empty counts as 0"),
    input("time", "From (HH:MM)", hhmm(r.time), "text", "A time window: start and length together, or both empty"),
    input("dur", "For (HH:MM)", hhmm(r.dur)),
    input("expr", "Formula", r.expr, "text", "Matches while above 0 and gives the current, e.g. min(16000, 29000 - M3.current)"),
    input("solar", "Solar current at least (mA)", r.solar, "number"),
    input("price_level", "Price level at most", r.price_level, "number"),
    input("input", "Input that must be on, e.g. M1.input1", r.input),
    input("udur", "Keeps matching after its condition drops (s)", r.udur || "", "number"),
    h("div", { class: "buttons" }, up, down, del));
  fs.addEventListener("click", (e) => {
    const list = fs.parentNode;
    if (e.target === up && fs.previousElementSibling) list.insertBefore(fs, fs.previousElementSibling);
    else if (e.target === down && fs.nextElementSibling) list.insertBefore(fs.nextElementSibling, fs);
    else if (e.target === del) fs.remove();
    else return;
    renumber(list);
    // A removed rule's button is gone: go on from "Add a rule".
    (e.target === del ? $('[data-testid="rule-add"]') : e.target).focus();
  });
  return fs;
}

function renumber(list) {
  [...list.children].forEach((fs, i) => {
    fs.dataset.testid = "rule-" + i;
    fs.querySelector("legend").textContent = `Rule ${i + 1}` + (i ? "" : " (checked first)");
    const [up, down, del] = fs.querySelectorAll(":scope > .buttons button");
    up.setAttribute("aria-label", `Move rule ${i + 1} up`);
    down.setAttribute("aria-label", `Move rule ${i + 1} down`);
    del.setAttribute("aria-label", `Remove rule ${i + 1}`);
  });
  list.previousElementSibling.hidden = list.children.length > 0;
}

// A rule in the API's JSON; empty optional fields are left out.
function readRule(fs, i) {
  const q = (n) => fs.querySelector(`[name="${n}"]`);
  const where = `Rule ${i + 1}: `;
  const r = { enabled: q("enabled").checked, days: 0, mode: Number(q("mode").value) };
  for (const c of fs.querySelectorAll('[name="days"]:checked')) r.days |= Number(c.value);
  for (const k of ["current", "solar", "price_level", "udur"]) {
    const t = q(k).value.trim();
    if (t === "") continue;
    if (!Number.isFinite(Number(t))) throw new Error(`${where}${k} "${t}" is not a number`);
    r[k] = Number(t);
  }
  for (const k of ["time", "dur"]) {
    const t = q(k).value.trim();
    if (t === "") continue;
    const m = /^(\d{1,2}):(\d{2})$/.exec(t);
    if (!m || +m[2] > 59) throw new Error(`${where}${k} "${t}" is not a time as HH:MM`);
    r[k] = +m[1] * 60 + +m[2];
  }
  for (const k of ["expr", "input"]) {
    const t = q(k).value.trim();
    if (t) r[k] = t;
  }
  return r;
}

async function rules(root) {
  const st = statusEl("rules-status");
  const target = h("select", { id: "rule-target", name: "rule_target" });
  const empty = h("p", { class: "hint", text: "No rules: the rules do not limit charging here." });
  const list = h("div", { class: "rules" });
  const add = h("button", { type: "button", "data-testid": "rule-add", text: "Add a rule" });
  const save = h("button", { type: "button", class: "primary", "data-testid": "rules-save", text: "Save rules" });
  root.append(h("h1", { text: "Charging rules" }),
    h("p", { class: "hint", text: "Within a list the first rule that matches decides the current; with rules and none matching the car gets nothing. The wallbox's and the user's lists both apply, and the lower current wins." }),
    h("div", { class: "field" }, h("label", { for: "rule-target", text: "Rules of" }), target),
    empty, list, h("div", { class: "buttons" }, add, save), st);
  const info = await api("get_params");
  if (!root.isConnected) return;
  const boxes = info.devices.filter((d) => isBox(d.dev_type));
  let people = [];
  target.append(h("optgroup", { label: "Wallboxes" }, boxes.map((d) => h("option", { value: d.dev_id, text: `${d.name || d.dev_id} (${d.dev_id})` }))));
  const owner = () => {
    const v = target.value;
    return v.startsWith("user:") ? people.find((p) => "user:" + p.id === v) : boxes.find((d) => d.dev_id === v);
  };
  const show = () => {
    list.replaceChildren(...(owner()?.charging_rules || []).map(ruleFieldset));
    renumber(list);
    say(st, "");
  };
  target.addEventListener("change", show);
  add.addEventListener("click", () => {
    const fs = ruleFieldset({ days: 127, mode: 0, enabled: true });
    list.append(fs);
    renumber(list);
    fs.querySelector("input").focus();
  });
  save.addEventListener("click", async () => {
    const o = owner();
    if (!o) return say(st, "Choose a wallbox or a user first", "err");
    let out;
    try {
      out = [...list.children].map(readRule);
    } catch (e) {
      return say(st, e.message, "err");
    }
    say(st, "Saving…");
    try {
      // The daemon checks every rule and its formula; its error is shown as it is.
      if (o.dev_id) await api("set_params", {}, { devices: [{ dev_id: o.dev_id, charging_rules: out }] });
      else await api("set_user", {}, { ...o, charging_rules: out });
      o.charging_rules = out;
      say(st, "Saved", "ok");
    } catch (e) {
      say(st, e.message, "err");
    }
  });
  show();
  // Users need the admin password: the wallboxes can be edited meanwhile.
  try {
    people = await api("get_users");
  } catch (e) {
    return say(st, "Users not shown: " + e.message, "err");
  }
  if (people.length)
    target.append(h("optgroup", { label: "Users" }, people.map((p) => h("option", { value: "user:" + p.id, text: `${p.name || p.id} (user)` }))));
}

/* ---------- start ---------- */

window.addEventListener("unhandledrejection", (e) => banner("Page error: " + (e.reason?.message || e.reason)));
window.addEventListener("error", (e) => banner("Page error: " + e.message));
window.addEventListener("hashchange", () => route());

// On a fresh install nothing asks for a password: the page asks the user to
// set one before anything else.
async function firstStart() {
  const panel = $("#setpw");
  try {
    const status = await api("get_login");
    panel.hidden = status.password_set;
  } catch {
    panel.hidden = true;
  }
}

$("#setpw-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const st = $("#setpw-status");
  const [n, a] = ["#setpw-new", "#setpw-again"].map((s) => $(s).value);
  if (!n) return say(st, "Choose a password", "err");
  if (n !== a) return say(st, "The two passwords differ", "err");
  say(st, "Setting…");
  try {
    await api("change_admin_pwd", {}, { old_pwd: "", new_pwd: n }, { noLogin: true });
    await logIn(n);
    $("#setpw-form").reset();
    say(st, "");
    $("#setpw").hidden = true;
    $("#announce").textContent = "Admin password set";
  } catch (err) {
    say(st, err.message, "err");
  }
});

showLogout();
route();
