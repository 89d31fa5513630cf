import test from "node:test";
import assert from "node:assert/strict";
import { carRoom, limitOf, siteSummary, voltsOf } from "../js/lib/summary.js";

const params = {
  max_total_current: 32_000, voltage: 230, house_current: [10_000, 4000, 7000], evse_current: [8000, 8000, 8000],
  available_current: [14_000, 20_000, 17_000], cons_evse_power: 5520, reserve_current: 0, overdraft_cur: 0, lb_enabled: true,
};

test("what one car could get: a one-phase car on the freest phase, a three-phase car on all", () => {
  const room = carRoom(params);
  assert.equal(room.one, 20_000);
  assert.equal(room.onePhase, 2);
  assert.equal(room.oneW, 4600);
  assert.equal(room.three, 14_000);
  assert.equal(room.threeW, 9660);
  assert.deepEqual(carRoom({ ...params, available_current: [-3000, 2000, 0] }).avail, [0, 2000, 0], "none below 0");
});

test("the summary says it in sentences", () => {
  const s = siteSummary(params);
  assert.equal(s.facts[0], "Limit per phase: 32.0 A");
  assert.equal(s.facts[1], "Cars draw 5.52 kW. All cars together may draw 14.0 A / 20.0 A / 17.0 A on L1 / L2 / L3: " +
    "a one-phase car up to 20.0 A (4.60 kW, on L2), a three-phase car up to 14.0 A per phase (9.66 kW).");
  assert.equal(s.facts.length, 2);
  assert.equal(s.phases[0].text, "house 10.0 A + cars 8.0 A = 18.0 A of 32.0 A");
  assert.ok(!s.phases.some((p) => p.over));
});

test("the bars share one scale, the limit or the highest phase, with room", () => {
  const s = siteSummary({ ...params, house_current: [30_000, 0, 0] });
  assert.ok(s.phases[0].over);
  assert.match(s.phases[0].text, /\(over the limit\)$/);
  const scale = 38_000 * 1.05;
  assert.equal(s.phases[0].house, (30_000 / scale) * 100);
  assert.equal(s.phases[0].cars, (8000 / scale) * 100);
  assert.equal(s.limit, (32_000 / scale) * 100);
  assert.ok(s.phases.every((p) => p.house + p.cars <= 100));
});

test("a formula limit is read from max_total_power at the nominal voltage", () => {
  const p = { ...params, max_total_current: "CM.limit", max_total_power: 22_080, voltage: 230 };
  assert.equal(limitOf(p), 32_000);
  assert.equal(siteSummary(p).facts[0], "Limit per phase: 32.0 A (formula: CM.limit)");
  assert.equal(voltsOf({}), 230);
  assert.equal(voltsOf({ voltage: 0 }), 230);
  assert.equal(voltsOf({ voltage: 120 }), 120);
});

test("reserve, overdraw, observation mode and a silent meter are told", () => {
  const s = siteSummary({ ...params, reserve_current: 2000, overdraft_cur: 1500, lb_enabled: false, meter_stale: true });
  assert.deepEqual(s.facts.slice(2), [
    "Reserve kept free: 2.0 A",
    "Overdraw seen: 1.5 A (subtracted for 5 minutes)",
    "Observation mode: load management measures and reports but controls nothing.",
    "A site meter does not answer: every car gets its minimum current.",
  ]);
});
