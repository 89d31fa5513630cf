import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { phasesText, reasonOf, reasonText } from "../js/lib/reasons.js";

// Every reason as get_dev_info gives it (lb_reason, lb_reason_code,
// lb_reason_args), written by a daemon unit test that checks it is what the
// daemon answers.
const DAEMON = JSON.parse(readFileSync(new URL("daemon-reasons.json", import.meta.url), "utf8"));

// Each lb_reason text the daemon writes, with the page's words for it.
const REASONS = [
  ["max_charging_cur", "At its maximum (setting, cable or override)"],
  ["charging rule E1/2", "Limited by charging rule E1/2"],
  ["charging rule Anna Smith/1", "Limited by charging rule Anna Smith/1"],
  ["charging rule U3f09/1: 4000 mA", "Charging rule U3f09/1 allows only 4.0 A"],
  ["site L2", "Site limit reached on L2"],
  ["group E5 L3", "Group E5 is full on L3"],
  ["max_total_evse_current L1", "Limit for all wallboxes reached on L1"],
  ["imbalance L3", "Reduced: phase imbalance on L3"],
  ["paused: no minimum (site L1)", "Paused: the minimum current does not fit (site L1)"],
  ["paused: imbalance L2", "Paused: phase imbalance on L2"],
  ["paused: another car's turn (group E4 L1)", "Paused: another car's turn (group E4 L1)"],
  ["paused: 42 s left of its minimum pause", "Paused: 42 s left of its minimum pause"],
  ["meter stale: M1 (minimum current)", "Meter M1 does not answer: minimum current only"],
  ["meter stale: M1, M3 (minimum current)", "Meters M1, M3 do not answer: minimum current only"],
  ["com error", "The wallbox does not answer"],
  ["no vehicle", "No car plugged in"],
  ["wallbox error", "The wallbox reports an error"],
  ["no reading yet", "No reading yet"],
  ["disabled", "Disabled: no current"],
  ["disabled: minimum current", "Disabled: minimum current"],
  ["disabled: no limit", "Disabled: not limited"],
  ["disabled by override", "Charging stopped by override"],
  ["waiting for authorisation", "Waiting for a card or PIN"],
  ["not controlled", "Not controlled"],
  ["§14a: dimmed, 4200 W for all wallboxes", "§14a: the grid operator dims; all wallboxes together get 4.2 kW"],
  ["1p: solar surplus 9.9 A", "On one phase: the solar surplus gives 9.9 A, too little for three"],
  ["1p: phase full for 3p, 12.0 A on 1p", "On one phase: a phase is full for three, 12.0 A left on its phase"],
  ["1p: 3p fits for 40 of 120 s", "On one phase: three fit, switching after 120 s (40 s so far)"],
  ["3p blocked: switched 4 min ago", "Stays: switching to 3 phases waits, the last switch was 4 min ago"],
  ["paused: switching to 1p, 95 s left", "Paused: switching to 1 phase, 95 s left"],
];

test("every reason the daemon gives is put in words, from its code", () => {
  const words = new Map(REASONS);
  for (const d of DAEMON) {
    if (d.lb_reason_code === "none") continue;
    assert.ok(words.has(d.lb_reason), `no words for ${d.lb_reason}`);
    // The words come from the code and its details, not from the text.
    assert.equal(reasonText(d), words.get(d.lb_reason), d.lb_reason);
    assert.equal(reasonText({ ...d, lb_reason: "x" }), words.get(d.lb_reason), d.lb_reason);
  }
  assert.equal(DAEMON.length, REASONS.length + 1, "the daemon's list and the words agree");
});

test("each reason has its own code, and its details", () => {
  const codes = DAEMON.map((d) => reasonOf(d)?.code).filter(Boolean);
  // Two texts of one reason: a user's rule with a space, two stale meters.
  assert.equal(new Set(codes).size, REASONS.length - 2);
  const group = DAEMON.find((d) => d.lb_reason === "group E5 L3");
  assert.deepEqual(reasonOf(group), { code: "group_limit", group: "E5", phase: "L3" });
  const rule = DAEMON.find((d) => d.lb_reason_code === "charging_rule_current");
  assert.deepEqual(reasonOf(rule), { code: "charging_rule_current", rule: "U3f09/1", ma: 4000 });
});

test("a reason the page does not know is shown as the daemon puts it", () => {
  const eclipse = { lb_reason: "solar eclipse", lb_reason_code: "solar_eclipse", lb_reason_args: {} };
  assert.equal(reasonOf(eclipse), null);
  assert.equal(reasonText(eclipse), "solar eclipse");
  assert.equal(reasonOf({ lb_reason: "x", lb_reason_code: "toString" }), null);
  assert.equal(reasonText({ lb_reason: "", lb_reason_code: "none", lb_reason_args: {} }), "—");
  assert.equal(reasonText({}), "—");
});

test("a switched wallbox's relay is put in words; one that is not, is a dash", () => {
  assert.equal(phasesText({ relay_phases: 0, phases_in_force: "off", phase_switches: 0 }), "—");
  assert.equal(phasesText({ relay_phases: 1, phases_in_force: "auto", phase_switches: 1 }), "one phase (automatic), switched once");
  assert.equal(phasesText({ relay_phases: 3, phases_in_force: "3p", phase_switches: 4 }), "three phases (set to three phases), switched 4 times");
});
