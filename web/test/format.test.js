import test from "node:test";
import assert from "node:assert/strict";
import { amps, batteryText, dateTimeText, hhmm, kw, kwh, minutesOf, num, perPhase, same, timeOptions, timeText } from "../js/lib/format.js";

test("currents, power and energy in their units, a dash without a value", () => {
  assert.equal(amps(8000), "8.0 A");
  assert.equal(amps(12_345), "12.3 A");
  assert.equal(amps(-1500), "-1.5 A");
  assert.equal(kw(7360), "7.36 kW");
  assert.equal(kwh(12_345), "12.35 kWh");
  for (const none of [null, undefined, NaN, Infinity, "8000"]) {
    assert.equal(amps(none), "—");
    assert.equal(kw(none), "—");
    assert.equal(kwh(none), "—");
  }
  assert.ok(num(0) && !num(NaN) && !num("1"));
});

test("three phases in one line: amperes from mA, volts as they are", () => {
  const d = { current_l1: 8000, current_l2: 7950, current_l3: 0, voltage_l1: 230, voltage_l2: 231, voltage_l3: 229 };
  assert.equal(perPhase(d, "current_l", "A"), "8.0 / 8.0 / 0.0 A");
  assert.equal(perPhase(d, "voltage_l", "V"), "230 / 231 / 229 V");
  assert.equal(perPhase({ current_l1: 1000, current_l2: 1000 }, "current_l", "A"), "—", "a phase missing");
});

test("times of day as HH:MM and back", () => {
  assert.equal(hhmm(0), "00:00");
  assert.equal(hhmm(17 * 60 + 5), "17:05");
  assert.equal(hhmm(undefined), "");
  assert.equal(minutesOf("7:30"), 450);
  assert.equal(minutesOf(" 17:05 "), 1025);
  for (const bad of ["17", "17:60", "17:5", "1730", "ab:cd", ""]) assert.equal(minutesOf(bad), null, bad);
  for (const m of [0, 59, 61, 1439]) assert.equal(minutesOf(hhmm(m)), m);
});

test("chart times show seconds over short spans and the day over long ones", () => {
  assert.deepEqual(Object.keys(timeOptions(600_000)), ["hour", "minute", "second"]);
  assert.deepEqual(Object.keys(timeOptions(6 * 3600_000)), ["hour", "minute"]);
  assert.deepEqual(Object.keys(timeOptions(48 * 3600_000)), ["weekday", "hour", "minute"]);
  const at = Date.UTC(2025, 0, 6, 13, 5, 9); // a Monday
  assert.equal(timeText(at, 600_000, "en-GB", "UTC"), "13:05:09");
  assert.equal(timeText(at, 21_600_000, "en-GB", "UTC"), "13:05");
  assert.equal(timeText(at, 172_800_000, "en-GB", "UTC"), "Mon 13:05");
  assert.equal(dateTimeText(String(at / 1000), "en-GB", "UTC"), "06/01/2025, 13:05");
});

test("same compares values, not identity", () => {
  assert.ok(same({ a: [1, 2] }, { a: [1, 2] }));
  assert.ok(!same(1, "1"));
  assert.ok(!same(null, undefined));
});

test("a battery: its state of charge, what it does, its most charge power", () => {
  // The storage object get_dev_info shows for a SunSpec device with model 124.
  const storage = { soc: 88, state: "charging", max_charge_w: 5000, voltage: 51, available_ah: 98 };
  assert.equal(batteryText(storage), "88 % · charging · charges at most 5.00 kW");
  assert.equal(batteryText({ soc: 12, state: null, max_charge_w: null }), "12 %", "points not implemented are left out");
  assert.equal(batteryText({ soc: null, state: null }), "—");
  for (const none of [undefined, null, "88"]) assert.equal(batteryText(none), "", "no battery");
});
