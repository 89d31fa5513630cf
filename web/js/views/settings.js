// Settings: the load management parameters, the charging-manager
// variables, the admin password and the charging log.

import { $, h, say, siteTitle, statusEl } from "../dom.js";
import { api, forgetToken } from "../api.js";
import { firstStart, logInWith, showLogout } from "../login.js";
import { changes, field } from "../form.js";
import { amps } from "../lib/format.js";
import { ID_FIELDS, filterQuery } from "../lib/devices.js";
import { MQTT_FIELDS, mqttChange, mqttFacts, mqttLine, mqttSource } from "../lib/mqtt.js";

// The parameters of set_params, as form fields (see form.js).
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

export async function settings(root) {
  const st = statusEl("params-status");
  const form = h("form", { class: "panel form", noValidate: true, "aria-labelledby": "params-h" });
  root.append(h("h1", { text: "Settings" }), form, mqttPanel(), cmVarsPanel(), passwordPanel(), logPanel());
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

// The MQTT connection (get_dev_info's params.mqtt) and the [mqtt] settings
// (get_mqtt), edited here and saved with set_mqtt, which restarts the
// client with them.
function mqttPanel() {
  const st = statusEl("mqtt-status");
  const state = h("p", { class: "state", "data-testid": "mqtt-state" });
  const list = h("dl", { class: "vars", "data-testid": "mqtt-settings" });
  const source = h("p", { class: "hint", "data-testid": "mqtt-source" });
  const form = h("form", { class: "form", noValidate: true, "data-testid": "mqtt-form" });
  const panel = h("section", { class: "panel", "aria-labelledby": "mqtt-h" },
    h("h2", { id: "mqtt-h", text: "MQTT and Home Assistant" }), state, list, form,
    h("p", { class: "hint", text: "The README's \"MQTT and Home Assistant\" has the topics." }),
    st);
  const inputs = {};
  for (const [key, label, type, hint] of MQTT_FIELDS) {
    const id = "mqtt-" + key;
    const attrs = { id, name: "mqtt_" + key, autocomplete: "off" };
    const input = type === "check"
      ? h("input", { ...attrs, type: "checkbox" })
      : h("input", { ...attrs, type: type === "number" ? "number" : type, ...(type === "password" ? { autocomplete: "new-password" } : {}) });
    inputs[key] = input;
    const small = hint ? h("small", { id: id + "-hint", text: hint }) : null;
    if (small) input.setAttribute("aria-describedby", small.id);
    const lab = h("label", { for: id, text: label });
    form.append(type === "check" ? h("div", { class: "field check" }, input, lab, small) : h("div", { class: "field" }, lab, input, small));
  }
  form.append(source, h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "mqtt-save", text: "Save and reconnect" })));
  let loaded = null;
  function fill(m) {
    loaded = m;
    for (const [key, , type] of MQTT_FIELDS) {
      if (type === "check") inputs[key].checked = !!m[key];
      else if (type === "password") {
        inputs[key].value = "";
        inputs[key].placeholder = m.password_set ? "set (empty keeps it)" : "none";
      } else inputs[key].value = m[key] ?? "";
    }
    source.textContent = mqttSource(m);
  }
  async function showState() {
    const info = await api("get_dev_info", filterQuery(ID_FIELDS));
    const line = mqttLine(info.params.mqtt);
    state.className = "state " + (line ? line.cls : "");
    state.textContent = line ? line.text : "MQTT is off: no broker is set ([mqtt] url).";
    list.replaceChildren(...mqttFacts(info.params.mqtt).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!loaded) return;
    const values = {};
    for (const [key, , type] of MQTT_FIELDS) values[key] = type === "check" ? inputs[key].checked : inputs[key].value;
    let body;
    try {
      body = mqttChange(loaded, values);
    } catch (err) {
      return say(st, err.message, "err");
    }
    if (!Object.keys(body).length) return say(st, "Nothing changed");
    say(st, "Saving…");
    try {
      await api("set_mqtt", {}, body);
      fill(await api("get_mqtt"));
      say(st, "Saved; MQTT restarted with these settings", "ok");
      // The new client's state, a moment after it started.
      setTimeout(() => showState().catch(() => {}), 1500);
      await showState();
    } catch (err) {
      say(st, err.message, "err");
    }
  });
  showState().catch((err) => say(st, err.message, "err"));
  api("get_mqtt").then(fill).catch((err) => say(st, err.message, "err"));
  return panel;
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
      forgetToken();
      if (n) await logInWith(n);
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
