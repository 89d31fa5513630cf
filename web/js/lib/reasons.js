// Why a wallbox gets what it gets, in words. Pure: no DOM.
//
// The words are by reason code, with the reason's details (phase, group,
// rule...), as get_dev_info gives them: lb_reason_code and lb_reason_args.
// reasonOf() is the one place that reads them.

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
  grid_dimming: (r) => `§14a: the grid operator dims; all wallboxes together get ${(r.limit_w / 1000).toFixed(1)} kW`,
  phases_1p_surplus: (r) => `On one phase: the solar surplus gives ${amps(r.ma)}, too little for three`,
  phases_1p_full_phase: (r) => `On one phase: a phase is full for three, ${amps(r.ma)} left on its phase`,
  phases_3p_hold: (r) => `On one phase: three fit, switching after ${r.hold_s} s (${r.held_s} s so far)`,
  phases_blocked: (r) => `Stays: switching to ${r.phases} phase${r.phases === 1 ? "" : "s"} waits, the last switch was ${Math.floor(r.ago_s / 60)} min ago`,
  phases_switching: (r) => `Paused: switching to ${r.phases} phase${r.phases === 1 ? "" : "s"}, ${r.secs} s left`,
};

// The reason of a wallbox of get_dev_info as { code, ...details }, or null
// for a reason this page does not know.
export function reasonOf(d) {
  const code = d.lb_reason_code;
  if (!code || !Object.hasOwn(WORDS, code)) return null;
  return { code, ...(d.lb_reason_args || {}) };
}

// The reason in words; one this page does not know as the daemon puts it.
export function reasonText(d) {
  if (!d.lb_reason) return "—";
  const r = reasonOf(d);
  const words = r && WORDS[r.code];
  return words ? words(r) : d.lb_reason;
}

// A wallbox's 1p/3p relay in words: where it is, how it is switched, how
// often it switched; "—" for a wallbox that is not switched.
export function phasesText(d) {
  if (!d.relay_phases) return "—";
  const how = { auto: "automatic", "1p": "set to one phase", "3p": "set to three phases" }[d.phases_in_force] || d.phases_in_force;
  const times = d.phase_switches === 1 ? "once" : `${d.phase_switches || 0} times`;
  return `${d.relay_phases === 1 ? "one phase" : "three phases"} (${how}), switched ${times}`;
}
