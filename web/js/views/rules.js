// Charging rules: the rule list of a wallbox or of a user, to add, change,
// reorder and remove rules. The daemon checks each rule when it is saved.

import { $, h, say, statusEl } from "../dom.js";
import { api } from "../api.js";
import { hhmm } from "../lib/format.js";
import { isWallbox, metaOf } from "../lib/devices.js";
import { DAYS, MODES, NEW_RULE, dayChecks, ruleFromForm } from "../lib/rules.js";

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
  const days = dayChecks(r.days);
  const fs = h("fieldset", { class: "rule panel" }, legend,
    h("div", { class: "field check" }, h("input", { id: u + "enabled", name: "enabled", type: "checkbox", checked: r.enabled !== false }), h("label", { for: u + "enabled", text: "Enabled" })),
    h("fieldset", { class: "days" }, h("legend", { text: "Days" }),
      DAYS.map((d, i) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "days", value: String(1 << i), checked: days[i] }), " " + d))),
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

// Rule i of the list in the API's JSON (see ruleFromForm).
function readRule(fs, i) {
  const q = (n) => fs.querySelector(`[name="${n}"]`);
  const f = { enabled: q("enabled").checked, mode: q("mode").value, days: [...fs.querySelectorAll('[name="days"]')].map((c) => c.checked) };
  for (const k of ["current", "solar", "price_level", "udur", "time", "dur", "expr", "input"]) f[k] = q(k).value;
  return ruleFromForm(f, i);
}

export async function rules(root) {
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
  const boxes = info.devices.filter(isWallbox(metaOf(info)));
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
    const fs = ruleFieldset(NEW_RULE);
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
