import test from "node:test";
import assert from "node:assert/strict";
import { probeText, probing, rotationAdvice, rotationStatus, wiringWarnings } from "../js/lib/wiring.js";

// A wallbox of get_dev_info as the daemon reports it (the fields pinned in
// integration_tests/api_snapshot.txt).
const box = (over) => ({
  dev_id: "E2",
  phase_rotation: 0,
  phase_rotation_detected: 120,
  phase_rotation_confidence: 0.978,
  phase_rotation_state: "confident",
  phase_rotation_used: [0, 120],
  phase_probe: "",
  ...over,
});

test("a configured rotation a confident measurement contradicts is offered to apply", () => {
  assert.deepEqual(rotationAdvice(box()), { text: "configured 0°, measured 120° (confidence 97 %)", apply: 120 });
  assert.equal(rotationAdvice(box({ phase_rotation: 240, phase_rotation_detected: 0, phase_rotation_confidence: 1 })).text, "configured 240°, measured 0° (confidence 100 %)");
});

test("nothing is offered while unsure, when they agree, or on auto", () => {
  assert.equal(rotationAdvice(box({ phase_rotation_state: "learning" })), null);
  assert.equal(rotationAdvice(box({ phase_rotation: 120 })), null);
  assert.equal(rotationAdvice(box({ phase_rotation: "auto" })), null);
  assert.equal(rotationAdvice(box({ phase_rotation_detected: null, phase_rotation_state: "not_drawn" })), null);
  assert.equal(rotationAdvice({}), null, "a wallbox the daemon says nothing of");
});

test("the measurement's progress in words", () => {
  assert.equal(rotationStatus(box({ phase_rotation: "auto", phase_rotation_used: [120] })), "Rotation auto: measured 120° (confidence 97 %); counted on 120°");
  assert.equal(rotationStatus(box({ phase_rotation: "auto", phase_rotation_state: "learning", phase_rotation_confidence: 0.6, phase_rotation_used: [0, 120, 240] })),
    "Rotation auto: learning (most likely 120°, 60 %); counted on 0°, 120°, 240°");
  assert.equal(rotationStatus(box({ phase_rotation_state: "not_drawn", phase_rotation_detected: null, phase_rotation_used: [0] })), "Rotation 0°: not measured yet (no car has drawn here); counted on 0°");
  assert.match(rotationStatus(box({ phase_rotation_state: "all_three_phases" })), /all three phases alike/);
  assert.equal(rotationStatus({ dev_id: "M1" }), "", "a meter has no rotation");
});

test("identify phases: its progress per wallbox, and whether it is under way", () => {
  assert.equal(probeText(box()), "", "never asked");
  assert.equal(probeText(box({ phase_probe: "stepping" })), "Identify phases: being stepped (its current lowered and raised again)");
  assert.equal(probeText(box({ phase_probe: "found" })), "Identify phases: done: rotation found");
  assert.equal(probeText(box({ phase_probe: "something_new" })), "Identify phases: something_new", "a word the page does not know is shown as given");
  assert.equal(probing([box({ phase_probe: "found" }), box({ phase_probe: "waiting" })]), true);
  assert.equal(probing([box({ phase_probe: "stepping" })]), true);
  assert.equal(probing([box({ phase_probe: "found" }), box({ phase_probe: "" }), box({ phase_probe: "no_room" })]), false);
  assert.equal(probing([]), false);
});

test("the dashboard lists the wallboxes whose wiring contradicts their setting", () => {
  const warned = box({ phase_rotation_warning: "configured 0°, measured 120° (confidence 97 %)" });
  assert.deepEqual(wiringWarnings([warned, box({ dev_id: "E1", phase_rotation_warning: "" }), { dev_id: "M1" }]), [
    { dev_id: "E2", text: "E2: phase rotation configured 0°, measured 120° (confidence 97 %); both rotations are protected until the setting is corrected" },
  ]);
  assert.match(wiringWarnings([{ ...warned, name: "Garage" }])[0].text, /^Garage \(E2\): phase rotation configured 0°/, "by its name where it has one");
  assert.deepEqual(wiringWarnings([box({ phase_rotation_warning: "" })]), [], "nothing when all is well");
  assert.deepEqual(wiringWarnings(undefined), []);
});
