import test from "node:test";
import assert from "node:assert/strict";
import { CH, CW, chartShapes, niceTop, pointAt, pointTimes, scale, segments, sitePhase, stepOf } from "../js/lib/chart.js";

test("get_history's first time and steps give every point's time", () => {
  assert.deepEqual(pointTimes({ t0: 1000, dt: [0, 500, 500, 1000] }), [1000, 1500, 2000, 3000]);
  assert.deepEqual(pointTimes({ t0: null, dt: [] }), []);
  assert.deepEqual(pointTimes({}), []);
  assert.equal(stepOf(3600), 6);
  assert.equal(stepOf(600), 1);
});

test("the top is above the highest value, in steps of 5 A, at least 5 A", () => {
  assert.equal(niceTop(0), 5000);
  assert.equal(niceTop(4000), 5000);
  assert.equal(niceTop(16_000), 20_000);
  assert.equal(niceTop(32_000), 40_000);
  assert.ok(niceTop(18_000) >= 18_000 * 1.1);
});

test("a stop of the daemon breaks the lines; steady points do not", () => {
  const every = (n, step, start = 0) => Array.from({ length: n }, (_, i) => start + i * step);
  assert.deepEqual(segments(every(10, 1000)), [[0, 10]]);
  // Ten points a second apart, ten minutes of nothing, ten more.
  const t = [...every(10, 1000), ...every(10, 1000, 9000 + 600_000)];
  assert.deepEqual(segments(t), [[0, 10], [10, 20]]);
  // Minute means: a gap is at least three steps.
  assert.deepEqual(segments(every(5, 60_000)), [[0, 5]]);
  assert.deepEqual(segments([]), []);
  assert.deepEqual(segments([5]), [[0, 1]]);
});

test("scales: the range fills the width, 0 the bottom and the top the top", () => {
  const { x, y } = scale(1000, 2000, 20_000);
  assert.equal(x(1000), "0.0");
  assert.equal(x(2000), String(CW) + ".0");
  assert.equal(x(1500), "300.0");
  assert.equal(y(0), String(CH) + ".0");
  assert.equal(y(20_000), "0.0");
  assert.equal(y(-5000), String(CH) + ".0", "below 0 at the bottom");
  assert.equal(y(99_000), "0.0", "above the top at the top");
});

test("an area is its top edge then its bottom edge back; values missing are left out", () => {
  const { top, shapes } = chartShapes({
    t: [0, 1000, 2000], from: 0, to: 2000,
    areas: [{ cls: "house", hi: [5000, null, 5000] }, { cls: "cars", lo: [5000, 5000, 5000], hi: [10_000, 10_000, 10_000] }],
    lines: [{ cls: "limit", v: [16_000, 16_000, undefined] }],
  });
  assert.equal(top, 20_000);
  assert.deepEqual(shapes, [
    { tag: "polygon", cls: "house", points: "0.0,75.0 600.0,75.0 600.0,100.0 0.0,100.0" },
    { tag: "polygon", cls: "cars", points: "0.0,50.0 300.0,50.0 600.0,50.0 600.0,75.0 300.0,75.0 0.0,75.0" },
    { tag: "polyline", cls: "limit", points: "0.0,20.0 300.0,20.0" },
  ]);
});

test("each stretch between gaps has shapes of its own", () => {
  const t = [0, 1000, 2000, 1_000_000, 1_001_000];
  const { shapes } = chartShapes({ t, from: 0, to: 1_001_000, areas: [], lines: [{ cls: "offered", v: [1, 2, 3, 4, 5] }] });
  assert.deepEqual(shapes.map((s) => s.points.split(" ").length), [3, 2]);
  const none = chartShapes({ t: [], from: 0, to: 1000, areas: [{ cls: "drawn", hi: [] }], lines: [] });
  assert.deepEqual(none, { top: 5000, x: none.x, shapes: [] });
});

test("the pointer reads the first point at or after it, else the last", () => {
  const t = [1000, 2000, 3000];
  assert.equal(pointAt(t, 0), 0);
  assert.equal(pointAt(t, 1500), 1);
  assert.equal(pointAt(t, 2000), 1);
  assert.equal(pointAt(t, 9000), 2);
});

test("a phase of the site: the house, and the cars stacked on it", () => {
  const site = { current_l2: [12_000, 3000, 9000], house_l2: [5000, 4000, -2000], limit: [32_000, 32_000, 32_000] };
  const p = sitePhase(site, 2);
  assert.deepEqual(p.house, [5000, 4000, 0], "a house feeding in counts as 0");
  assert.deepEqual(p.stacked, [12_000, 4000, 9000], "never below the house");
  assert.deepEqual(p.cars, [7000, 0, 9000]);
  assert.deepEqual(p.limit, site.limit);
  assert.deepEqual(sitePhase({}, 1), { house: [], stacked: [], cars: [], limit: [] });
});
