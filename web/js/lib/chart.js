// The history charts as numbers: point times, gaps, scales and the shapes
// to draw. Pure: no DOM; views/history.js turns the shapes into SVG.

import { num } from "./format.js";

// The ranges a user picks: [label, seconds].
export const RANGES = [["10 min", 600], ["1 h", 3600], ["6 h", 21600], ["48 h", 172800]];
// The charts' own coordinates; the page stretches them to its width.
export const CW = 600;
export const CH = 100;

// The top of a chart: a little above the highest value, in steps of 5 A.
export const niceTop = (ma) => Math.ceil((Math.max(ma, 1000) * 1.1) / 5000) * 5000;

// The step of get_history for a range: about 600 points a chart.
export const stepOf = (rangeSecs) => Math.floor(rangeSecs / 600);

// get_history's point times, unix ms (it sends the first and the steps).
export function pointTimes(data) {
  let at = data.t0 ?? 0;
  return (data.dt || []).map((dt) => (at += dt));
}

// Index ranges [a, b) without a gap (the daemon was stopped): a gap is
// over three median steps and at least 150 s, and breaks the lines.
export function segments(t) {
  const steps = t.slice(1).map((x, i) => x - t[i]).sort((a, b) => a - b);
  const gap = Math.max(3 * (steps[steps.length >> 1] || 0), 150000);
  const out = [];
  let start = 0;
  for (let i = 1; i <= t.length; i++) {
    if (i === t.length || t[i] - t[i - 1] > gap) {
      out.push([start, i]);
      start = i;
    }
  }
  return out.filter(([a, b]) => b > a);
}

// Chart coordinates of a time (ms) between from and to, and of a value
// (mA) between 0 and top, as text with one decimal.
export function scale(from, to, top) {
  return {
    x: (ms) => (((ms - from) / Math.max(to - from, 1)) * CW).toFixed(1),
    y: (ma) => (CH - (Math.min(Math.max(ma, 0), top) / top) * CH).toFixed(1),
  };
}

// What to draw over the times t (ms) from..to: areas ({cls, lo, hi}) as
// polygons, their top edge then the bottom one (lo, or 0) back; lines
// ({cls, v}) as polylines; one of each per stretch without a gap; values
// that are not numbers are left out. Gives the top (mA), the x scale and
// the shapes as { tag, cls, points }.
export function chartShapes({ t, from, to, areas, lines }) {
  const values = [...areas.flatMap((a) => a.hi), ...lines.flatMap((l) => l.v)].filter(num);
  const top = niceTop(Math.max(0, ...values));
  const { x, y } = scale(from, to, top);
  const shapes = [];
  for (const [a, b] of segments(t)) {
    for (const { cls, lo, hi } of areas) {
      const upper = [];
      const lower = [];
      for (let i = a; i < b; i++) {
        if (!num(hi[i])) continue;
        upper.push(`${x(t[i])},${y(hi[i])}`);
        lower.unshift(`${x(t[i])},${y(lo ? lo[i] : 0)}`);
      }
      if (upper.length) shapes.push({ tag: "polygon", cls, points: upper.concat(lower).join(" ") });
    }
    for (const { cls, v } of lines) {
      const points = [];
      for (let i = a; i < b; i++) if (num(v[i])) points.push(`${x(t[i])},${y(v[i])}`);
      if (points.length) shapes.push({ tag: "polyline", cls, points: points.join(" ") });
    }
  }
  return { top, x, shapes };
}

// The point under a time (ms): the first at or after it, else the last.
export function pointAt(t, at) {
  const i = t.findIndex((ms) => ms >= at);
  return i < 0 ? t.length - 1 : i;
}

// Phase n (1 to 3) of get_history's site: the house load (not below 0),
// house and cars stacked on it (the site's current, not below the house),
// the cars alone, and the limit.
export function sitePhase(site, n) {
  const current = site["current_l" + n] || [];
  const house = (site["house_l" + n] || []).map((v) => Math.max(v, 0));
  const stacked = house.map((v, i) => v + Math.max(current[i] - v, 0));
  return { house, stacked, cars: stacked.map((v, i) => v - house[i]), limit: site.limit || [] };
}
