import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { metaOf } from "../js/lib/devices.js";
import { byUserName, errorsText, overridden, overridesText, roleName, ruleText, stateOf, userText } from "../js/lib/words.js";

// The daemon's words (see devices.test.js).
const META = metaOf(JSON.parse(readFileSync(new URL("daemon-meta.json", import.meta.url), "utf8")));

test("a wallbox's state in words, with a colour class that only helps", () => {
  const on = { device_enabled: 1 };
  assert.deepEqual(stateOf(META, { ...on, state: 1 }, "wallbox"), ["No car", "idle"]);
  assert.deepEqual(stateOf(META, { ...on, state: 2 }, "wallbox"), ["Car waiting", "idle"]);
  assert.deepEqual(stateOf(META, { ...on, state: 3 }, "wallbox"), ["Charging", "ok"]);
  assert.deepEqual(stateOf(META, { ...on, state: 3, paused: true }, "wallbox"), ["Charging (paused)", "ok"]);
  assert.deepEqual(stateOf(META, { ...on, state: 5 }, "wallbox"), ["Error: wallbox fault", "err"]);
  assert.deepEqual(stateOf(META, { ...on, state: 9 }, "wallbox"), ["Unknown state 9", "err"]);
  assert.deepEqual(stateOf(META, on, "wallbox"), ["No reading yet", "idle"]);
});

test("disabled, unreachable and starting devices say so before anything else", () => {
  assert.deepEqual(stateOf(META, { device_enabled: 0, state: 3, com_err: true }, "wallbox"), ["Disabled", "off"]);
  assert.deepEqual(stateOf(META, { device_enabled: 1, state: 3, com_err: true }, "wallbox"), ["Error: no answer", "err"]);
  assert.deepEqual(stateOf(META, { device_enabled: 1, model: "failed to connect" }, "meter"), ["Error: no answer", "err"]);
  assert.deepEqual(stateOf(META, { device_enabled: 1, model: "starting" }, "meter"), ["Starting", "idle"]);
  assert.deepEqual(stateOf(META, { device_enabled: 1, model: "Eastron,SDM630" }, "meter"), ["Measuring", "ok"]);
  assert.deepEqual(stateOf(META, { device_enabled: 1, com_err: true }, "group"), ["Group", "idle"]);
});

test("meter roles by their cFos number in the daemon's words; an unknown one as its number", () => {
  assert.equal(roleName(META, 0), "Display only");
  assert.equal(roleName(META, 3), "Grid");
  assert.equal(roleName(META, 6), "Storage (all)");
  assert.equal(roleName(META, 42), "42");
});

test("overrides from the bit mask, with a current cap", () => {
  const d = { overrides: 5, ov_cur: 10_000 };
  assert.ok(overridden(d, "C") && !overridden(d, "E") && overridden(d, "U"));
  assert.equal(overridesText(d), "charging stopped, user rules off, at most 10.0 A");
  assert.equal(overridesText({ overrides: 0, ov_cur: -1 }), "none");
  assert.equal(overridesText({}), "none");
});

test("a user's rule is named by the user's name where the daemon gives it", () => {
  const anna = { user: "U3f09", user_name: "Anna", rule_id: "U3f09/2", rule_current: 16_000 };
  assert.equal(ruleText(anna), "Anna/2: 16.0 A");
  assert.equal(ruleText({ ...anna, rule_id: "U3f09/none" }), "Anna: no rule matches");
  assert.equal(ruleText({ rule_id: "E1/1", rule_current: 6000 }), "E1/1: 6.0 A");
  assert.equal(ruleText({ rule_id: "" }), "No rules");
  assert.equal(byUserName(anna, "Limited by charging rule U3f09/2"), "Limited by charging rule Anna/2");
  assert.equal(byUserName({ user: "U1", user_name: "$& $1" }, "rule U1/2"), "rule $& $1/2", "a name is put as it is");
  assert.equal(byUserName({ user: "", user_name: "" }, "rule user/2"), "rule user/2");
});

test("who charges, and a device's communication errors", () => {
  assert.equal(userText({ user: "U1", user_name: "Anna" }), "Anna");
  assert.equal(userText({ user: "U1" }), "U1");
  assert.equal(userText({ needs_auth: true }), "none yet (needs a card or PIN)");
  assert.equal(userText({}), "—");
  assert.equal(errorsText({ com_errors: 3, last_error: "timeout" }), "3 (last: timeout)");
  assert.equal(errorsText({}), "0");
});
