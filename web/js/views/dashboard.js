// The dashboard: the site summary, the history charts and a tile per
// device, updated every second.

import { h, say, siteTitle } from "../dom.js";
import { api } from "../api.js";
import { pollNow, startPolling } from "../poll.js";
import { amps, batteryText, kw, kwh, num, perPhase } from "../lib/format.js";
import { kindOf } from "../lib/devices.js";
import { daemonMeta } from "../meta.js";
import { phasesText, reasonText } from "../lib/reasons.js";
import { siteSummary } from "../lib/summary.js";
import { mqttLine } from "../lib/mqtt.js";
import { byUserName, errorsText, overridden, overridesText, roleName, ruleText, stateOf, userText } from "../lib/words.js";
import { milliamps } from "../lib/parse.js";
import { wiringWarnings } from "../lib/wiring.js";
import { historyPanel } from "./history.js";

export async function dashboard(root) {
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
  // A configured phase rotation the grid meter contradicts (issue of the
  // wiring, not of a device's communication): said above everything else.
  const wiring = h("section", { class: "panel notice", "data-testid": "wiring-warnings", "aria-labelledby": "wiring-h", hidden: true });
  root.append(h("h1", { text: "Dashboard" }), none, wiring, summary, charts.el, h("h2", { class: "sr-only", text: "Devices" }), grid);
  const tiles = new Map();
  let layout = "";
  startPolling(async () => {
    // The daemon's meta is asked once per page load, beside the first poll.
    const [info, meta] = await Promise.all([api("get_dev_info"), daemonMeta()]);
    if (!root.isConnected) return;
    siteTitle(info.params);
    none.hidden = info.devices.length > 0;
    renderSummary(summary, info.params);
    renderWiring(wiring, info.devices);
    // Tiles are built once and then updated, so open controls keep their input.
    const now = info.devices.map((d) => d.dev_id + ":" + d.dev_type).join();
    if (now !== layout) {
      layout = now;
      tiles.clear();
      grid.replaceChildren(...info.devices.map((d) => tiles.set(d.dev_id, makeTile(meta, d)).get(d.dev_id).el));
    }
    for (const d of info.devices) tiles.get(d.dev_id).update(d);
    // For bench/web.py: when the first answer was drawn.
    if (!performance.getEntriesByName("dashboard-rendered").length) performance.mark("dashboard-rendered");
    // The charts after the live numbers: their data is larger.
    await charts.update(info, meta);
  });
}

function renderWiring(el, devices) {
  const warnings = wiringWarnings(devices);
  el.hidden = warnings.length === 0;
  if (el.hidden) return el.replaceChildren();
  el.replaceChildren(
    h("h2", { id: "wiring-h", text: "The wiring does not match the settings" }),
    h("ul", {}, warnings.map((w) => h("li", { "data-testid": "wiring-warning-" + w.dev_id, text: w.text }))),
    h("p", {}, "Apply the measured rotation, or set it to auto, under ", h("a", { href: "#/devices", text: "Devices" }), ".")
  );
}

function renderSummary(el, p) {
  const s = siteSummary(p);
  const bar = (cls, width, left) => {
    const b = h("span", { class: cls });
    b.style.width = width + "%";
    if (left != null) b.style.left = left + "%";
    return b;
  };
  const rows = s.phases.map((ph) => {
    const mark = h("span", { class: "limit" });
    mark.style.left = s.limit + "%";
    return h(
      "div",
      { class: "phase" + (ph.over ? " over" : "") },
      h("span", { class: "ph", text: ph.name }),
      h("div", { class: "bar", "aria-hidden": "true" }, bar("house", ph.house), bar("cars", ph.cars, ph.house), mark),
      h("span", { class: "nums", text: ph.text })
    );
  });
  // The MQTT connection, when there is one.
  const mqtt = mqttLine(p.mqtt);
  const facts = s.facts.map((t) => h("li", { text: t }));
  if (mqtt) facts.push(h("li", { class: "state " + mqtt.cls, "data-testid": "mqtt-state", text: mqtt.text }));
  el.replaceChildren(
    h("h2", { id: "site-h", text: "Site" }),
    h("ul", { class: "facts" }, facts),
    h("div", { class: "phases" }, rows),
    h("p", { class: "legend" }, h("span", { class: "key house" }), "house load ", h("span", { class: "key cars" }), "cars ", h("span", { class: "key limit" }), "limit")
  );
}

function makeTile(meta, d) {
  const kind = kindOf(meta, d);
  const v = {};
  const dl = h("dl");
  const row = (key, label, testid) => dl.append(h("dt", { text: label }), (v[key] = h("dd", { "data-testid": testid })));
  const name = h("span");
  const id = h("span", { class: "devid" });
  const type = h("p", { class: "type" });
  const state = h("p", { class: "state", "data-testid": "state" });
  // The wallbox's own line about a contradicted phase rotation.
  const wiring = h("p", { class: "state warn", "data-testid": "wiring", hidden: true });
  const hid = "t-" + d.dev_id;
  const el = h("article", { class: "tile " + kind, "data-testid": "tile-" + d.dev_id, "aria-labelledby": hid },
    h("h3", { id: hid }, name, " ", id), type, state, wiring, dl);
  let controls = null;
  if (kind === "wallbox") {
    row("offered", "Offered", "charging-current");
    row("currents", "Drawing L1 / L2 / L3");
    row("power", "Power");
    row("energy", "Energy");
    row("reason", "Why");
    row("phases", "1p/3p", "phases");
    row("rule", "Charging rule");
    row("user", "User");
    row("overrides", "Overrides");
    controls = evseControls(d.dev_id);
    el.append(controls.el);
  } else if (kind === "group") {
    row("limit", "Limit per phase");
    row("parent", "In group");
  } else {
    row("role", "Role", "role");
    row("power", "Power");
    row("currents", "Current L1 / L2 / L3");
    row("voltages", "Voltage L1 / L2 / L3");
    row("energy", "Energy in / out");
    // A battery behind the device (a hybrid inverter's): shown once it reports one.
    row("battery", "Battery", "battery");
  }
  if (kind !== "group") row("errors", "Communication errors");

  function update(d) {
    name.textContent = d.name || d.dev_id;
    id.textContent = d.name ? d.dev_id : "";
    type.textContent = d.desc + " · " + d.dev_type;
    const [text, cls] = stateOf(meta, d, kind);
    state.textContent = text;
    state.className = "state " + cls;
    el.className = "tile " + kind + " " + cls;
    if (kind === "wallbox") {
      // charging_cur where the daemon gives it, else what load management offers now.
      v.offered.textContent = amps(num(d.charging_cur) ? d.charging_cur : d.lb_current);
      v.currents.textContent = perPhase(d, "current_l", "A");
      v.power.textContent = kw(d.cur_charging_power);
      v.energy.textContent = kwh(d.total_energy);
      v.reason.textContent = byUserName(d, reasonText(d));
      v.phases.textContent = phasesText(d);
      v.rule.textContent = ruleText(d);
      v.user.textContent = userText(d);
      v.overrides.textContent = overridesText(d);
      controls.update(d);
      const warning = d.phase_rotation_warning || "";
      wiring.hidden = !warning;
      wiring.textContent = warning ? "⚠ Phase rotation " + warning : "";
    } else if (kind === "group") {
      v.limit.textContent = num(d.max_charging_cur) ? amps(d.max_charging_cur) : "formula: " + d.max_charging_cur;
      v.parent.textContent = d.group ? "E" + d.group : "none";
    } else {
      v.role.textContent = roleName(meta, d.role);
      v.power.textContent = kw(d.power_w);
      v.currents.textContent = perPhase(d, "current_l", "A");
      v.voltages.textContent = perPhase(d, "voltage_l", "V");
      v.energy.textContent = kwh(d.import) + " / " + kwh(d.export);
      const battery = batteryText(d.storage);
      v.battery.textContent = battery;
      v.battery.hidden = v.battery.previousElementSibling.hidden = !battery;
    }
    if (v.errors) v.errors.textContent = errorsText(d);
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
      pollNow();
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
    const ma = milliamps(mamps.value);
    if (ma === null) return say(st, "Enter a current in amperes, e.g. 8", "err");
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
