// Why a wallbox gets what it gets, in words. Pure: no DOM.
//
// The words are by reason code, with the reason's details (phase, group,
// rule...). reasonOf() is the one place that reads the daemon's reason:
// today from the text of get_dev_info's lb_reason (TEXTS); once the daemon
// gives a code beside it, from that code instead, and TEXTS goes.

import { amps } from "./format.js";

// Words by code; r holds the details the code's reason has.
const WORDS = {
  max_charging_cur: () => "At its maximum (setting, cable or override)",
  charging_rule: (r) => `Limited by charging rule ${r.rule}`,
  charging_rule_current: (r) => `Charging rule ${r.rule} allows only ${amps(r.ma)}`,
  site_limit: (r) => `Site limit reached on ${r.phase}`,
  group_limit: (r) => `Group ${r.group} is full on ${r.phase}`,
  evse_total_limit: (r) => `Limit for all wallboxes reached on ${r.phase}`,
  imbalance: (r) => `Reduced: phase imbalance on ${r.phase}`,
  paused_no_minimum: (r) => `Paused: the minimum current does not fit (${r.limit})`,
  paused_imbalance: (r) => `Paused: phase imbalance on ${r.phase}`,
  paused_turn: (r) => `Paused: another car's turn (${r.limit})`,
  paused_min_pause: (r) => `Paused: ${r.secs} s left of its minimum pause`,
  meter_stale: (r) => (r.meters.includes(",") ? `Meters ${r.meters} do not answer` : `Meter ${r.meters} does not answer`) + ": minimum current only",
  com_error: () => "The wallbox does not answer",
  no_vehicle: () => "No car plugged in",
  wallbox_error: () => "The wallbox reports an error",
  no_reading: () => "No reading yet",
  disabled: () => "Disabled: no current",
  disabled_min_current: () => "Disabled: minimum current",
  disabled_no_limit: () => "Disabled: not limited",
  disabled_by_override: () => "Charging stopped by override",
  waiting_for_auth: () => "Waiting for a card or PIN",
  not_controlled: () => "Not controlled",
};

// lb_reason's text → [pattern, code, names of the captured details].
const TEXTS = [
  [/^max_charging_cur$/, "max_charging_cur"],
  // A rule id may hold a user's name, spaces and all.
  [/^charging rule (.+): (-?\d+) mA$/, "charging_rule_current", ["rule", "ma"]],
  [/^charging rule (.+)$/, "charging_rule", ["rule"]],
  [/^site (L\d)$/, "site_limit", ["phase"]],
  [/^group (E\d+) (L\d)$/, "group_limit", ["group", "phase"]],
  [/^max_total_evse_current (L\d)$/, "evse_total_limit", ["phase"]],
  [/^imbalance (L\d)$/, "imbalance", ["phase"]],
  [/^paused: no minimum \((.+)\)$/, "paused_no_minimum", ["limit"]],
  [/^paused: imbalance (L\d)$/, "paused_imbalance", ["phase"]],
  [/^paused: another car's turn \((.+)\)$/, "paused_turn", ["limit"]],
  [/^paused: (\d+) s left of its minimum pause$/, "paused_min_pause", ["secs"]],
  [/^meter stale: (.+?)(?: \(minimum current\))?$/, "meter_stale", ["meters"]],
  [/^com error$/, "com_error"],
  [/^no vehicle$/, "no_vehicle"],
  [/^wallbox error$/, "wallbox_error"],
  [/^no reading yet$/, "no_reading"],
  [/^disabled$/, "disabled"],
  [/^disabled: minimum current$/, "disabled_min_current"],
  [/^disabled: no limit$/, "disabled_no_limit"],
  [/^disabled by override$/, "disabled_by_override"],
  [/^waiting for authorisation$/, "waiting_for_auth"],
  [/^not controlled$/, "not_controlled"],
];

// The reason of a wallbox of get_dev_info as { code, ...details }, or null
// for a reason this page does not know.
export function reasonOf(d) {
  const text = d.lb_reason || "";
  for (const [re, code, names = []] of TEXTS) {
    const m = re.exec(text);
    if (m) return Object.fromEntries([["code", code], ...names.map((n, i) => [n, n === "ma" ? +m[i + 1] : m[i + 1]])]);
  }
  return null;
}

// The reason in words; one this page does not know as the daemon puts it.
export function reasonText(d) {
  if (!d.lb_reason) return "—";
  const r = reasonOf(d);
  const words = r && WORDS[r.code];
  return words ? words(r) : d.lb_reason;
}
