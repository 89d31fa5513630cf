import test from "node:test";
import assert from "node:assert/strict";
import { reasonOf, reasonText } from "../js/lib/reasons.js";

// Every lb_reason the daemon writes (alloc::Reason and the site's notes),
// with the page's words for it.
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
];

test("every reason the daemon gives is put in words", () => {
  for (const [lb_reason, words] of REASONS) assert.equal(reasonText({ lb_reason }), words, lb_reason);
});

test("each reason has its own code, and its details", () => {
  const codes = REASONS.map(([lb_reason]) => reasonOf({ lb_reason }).code);
  // Two texts of one reason: a user's rule with a space, two stale meters.
  assert.equal(new Set(codes).size, REASONS.length - 2);
  assert.deepEqual(reasonOf({ lb_reason: "group E5 L3" }), { code: "group_limit", group: "E5", phase: "L3" });
  assert.deepEqual(reasonOf({ lb_reason: "charging rule U3f09/1: -5 mA" }), { code: "charging_rule_current", rule: "U3f09/1", ma: -5 });
});

test("a reason the page does not know is shown as the daemon puts it", () => {
  assert.equal(reasonOf({ lb_reason: "solar eclipse" }), null);
  assert.equal(reasonText({ lb_reason: "solar eclipse" }), "solar eclipse");
  assert.equal(reasonText({ lb_reason: "" }), "—");
  assert.equal(reasonText({}), "—");
});
