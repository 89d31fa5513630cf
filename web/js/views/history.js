// The dashboard's history: the site per phase (house and cars stacked
// against the limit) and each wallbox (offered and drawn), with its
// charging sessions. Fetched every 5 s, about 600 points a chart.

import { h, say, svg } from "../dom.js";
import { api } from "../api.js";
import { pollNow } from "../poll.js";
import { amps, dateTimeText, kw, kwh, timeText } from "../lib/format.js";
import { CH, CW, RANGES, chartShapes, pointAt, pointTimes, sitePhase, stepOf } from "../lib/chart.js";
import { isWallbox } from "../lib/devices.js";
import { lastSessions } from "../lib/sessions.js";

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
  const { top, x, shapes } = chartShapes({ t, from, to, areas, lines });
  const kids = shapes.map(({ tag, cls, points }) => svg(tag, { class: cls, "data-series": cls, points }));
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
    const i = pointAt(t, from + ((e.clientX - r.left) / Math.max(r.width, 1)) * (to - from));
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

// The history panel: { el, update(info, meta) } where info is get_dev_info's
// answer and meta says which devices are wallboxes (see metaOf() in
// lib/devices.js).
export function historyPanel() {
  let range = 3600;
  let due = 0;
  const st = h("p", { class: "status", role: "status" });
  const buttons = RANGES.map(([label, secs]) => {
    const b = h("button", { type: "button", class: "small", text: label, "aria-pressed": String(secs === range), "data-testid": "range-" + secs });
    b.addEventListener("click", () => {
      range = secs;
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
      due = 0;
      pollNow();
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

  async function update(info, meta) {
    if (Date.now() < due) return;
    due = Date.now() + 5000;
    const to = Math.floor(Date.now() / 1000);
    const from = to - range;
    let data;
    try {
      data = await api("get_history", { from, to, step: stepOf(range) });
    } catch (e) {
      return say(st, "History: " + e.message, "err");
    }
    say(st, "");
    const t = pointTimes(data);
    const span = { t, from: from * 1000, to: to * 1000 };
    const site = data.site || {};
    phases.forEach((c, p) => {
      const n = p + 1;
      const { house, stacked, cars, limit } = sitePhase(site, n);
      const rawHouse = site["house_l" + n] || [];
      drawChart(c, { ...span, areas: [{ cls: "house", hi: house }, { cls: "cars", lo: house, hi: stacked }],
        lines: [{ cls: "limit", v: limit }],
        describe: (i) => `L${n} ${timeText(t[i], 0)}: house ${amps(rawHouse[i])}, cars ${amps(cars[i])}, limit ${amps(limit[i])}` });
    });
    const evses = info.devices.filter(isWallbox(meta));
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
    const rows = lastSessions(csv, devId);
    if (!rows.length) return list.replaceChildren(h("p", { text: "No finished charging session yet." }));
    list.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, ["Start", "End", "Energy", "User"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows.map(({ user, start, end, wh }) => h("tr", {},
        h("td", { text: dateTimeText(start) }), h("td", { text: dateTimeText(end) }), h("td", { text: kwh(wh) }), h("td", { text: names[user] || user || "—" }))))));
  } catch (e) {
    list.replaceChildren(h("p", { class: "status err", text: e.message }));
  }
}
