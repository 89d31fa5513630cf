import test from "node:test";
import assert from "node:assert/strict";
import { dayChecks, daysMask, ruleFromForm } from "../js/lib/rules.js";

const form = (over) => ({ enabled: true, mode: "0", days: dayChecks(127), current: "", solar: "", price_level: "", udur: "", time: "", dur: "", expr: "", input: "", ...over });

test("days: bit 0 is Monday; no days given means every day", () => {
  assert.deepEqual(dayChecks(1), [true, false, false, false, false, false, false]);
  assert.deepEqual(dayChecks(0b1100000), [false, false, false, false, false, true, true]);
  assert.deepEqual(dayChecks(undefined), Array(7).fill(true));
  for (const mask of [0, 1, 31, 96, 127]) assert.equal(daysMask(dayChecks(mask)), mask);
});

test("a rule's form becomes the API's JSON, empty fields left out", () => {
  assert.deepEqual(ruleFromForm(form({}), 0), { enabled: true, days: 127, mode: 0 });
  assert.deepEqual(
    ruleFromForm(form({ enabled: false, mode: "2", days: dayChecks(96), current: " 16000", solar: "6000", price_level: "-4", udur: "300",
      time: "22:00", dur: "6:30", expr: " min(16000, 29000 - M3.current) ", input: "M1.input1" }), 0),
    { enabled: false, days: 96, mode: 2, current: 16000, solar: 6000, price_level: -4, udur: 300, time: 1320, dur: 390,
      expr: "min(16000, 29000 - M3.current)", input: "M1.input1" },
  );
});

test("a bad number or time names the rule and the field", () => {
  assert.throws(() => ruleFromForm(form({ current: "16 A" }), 2), { message: 'Rule 3: current "16 A" is not a number' });
  assert.throws(() => ruleFromForm(form({ time: "25" }), 0), { message: 'Rule 1: time "25" is not a time as HH:MM' });
  assert.throws(() => ruleFromForm(form({ dur: "1:75" }), 0), /dur "1:75" is not a time/);
});
