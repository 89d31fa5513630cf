// A device's state, role, overrides, rule and user in words. Pure: no DOM.
//
// get_dev_info gives these as cFos numbers (role, state, the overrides'
// bit mask). The words for roles and states are the daemon's (get_params's
// `meta`, see metaOf() in devices.js).

import { amps, num } from "./format.js";

// A meter role by its cFos number, in the daemon's words; an unknown one
// as its number.
export const roleName = (meta, role) => meta.roles[role] ?? String(role);

// [state in words, colour class] of a device of kind "wallbox", "group" or
// "meter": the words carry the meaning, colour only helps (IEC 61851
// states 1–6: 3 and 4 charge, 5 and 6 are errors).
export function stateOf(meta, d, kind) {
  if (!d.device_enabled) return ["Disabled", "off"];
  if (kind === "group") return ["Group", "idle"];
  if (d.com_err || d.model === "failed to connect") return ["Error: no answer", "err"];
  if (d.model === "starting") return ["Starting", "idle"];
  if (kind === "meter") return ["Measuring", "ok"];
  if (!num(d.state)) return ["No reading yet", "idle"];
  const text = meta.evse_states[d.state] || "Unknown state " + d.state;
  return [d.paused ? text + " (paused)" : text, d.state >= 5 ? "err" : d.state >= 3 ? "ok" : "idle"];
}

// Overrides by flag of override_device (upper case sets, lower case
// clears), in words; get_dev_info reports them as a bit mask.
export const OVERRIDES = { C: "charging stopped", E: "wallbox rules off", U: "user rules off" };
const OVERRIDE_BITS = { C: 1, E: 2, U: 4 };
export const overridden = (d, flag) => num(d.overrides) && (d.overrides & OVERRIDE_BITS[flag]) !== 0;

// A wallbox's overrides in words, "none" without any.
export function overridesText(d) {
  const on = Object.keys(OVERRIDES).filter((f) => overridden(d, f)).map((f) => OVERRIDES[f]);
  if (num(d.ov_cur) && d.ov_cur >= 0) on.push("at most " + amps(d.ov_cur));
  return on.join(", ") || "none";
}

// A text naming a user's rule ("charging rule U3f09/2") by the user's name
// instead ("charging rule Anna/2"), where the daemon gives it.
export const byUserName = (d, text) =>
  d.user && d.user_name ? text.replace(d.user + "/", () => d.user_name + "/") : text;

// The charging rule that decides, in words; a user's rule under the
// user's name rather than the id.
export function ruleText(d) {
  const id = d.user && d.user_name && d.rule_id?.startsWith(d.user + "/")
    ? d.user_name + d.rule_id.slice(d.user.length) : d.rule_id;
  if (!id) return "No rules";
  if (id.endsWith("/none")) return `${id.slice(0, -5)}: no rule matches`;
  return `${id}: ${amps(d.rule_current)}`;
}

// Who charges: the user's name, else the id, else whether a card is needed.
export const userText = (d) => d.user_name || d.user || (d.needs_auth ? "none yet (needs a card or PIN)" : "—");

// The communication errors of a device and the last one.
export const errorsText = (d) => String(d.com_errors ?? 0) + (d.last_error ? ` (last: ${d.last_error})` : "");
