// Charging rules as the form shows them and as the API takes them
// (charging_rules of a wallbox or a user). Pure: no DOM.

import { minutesOf } from "./format.js";

export const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
export const MODES = ["Fixed current (mA)", "Percent of the wallbox maximum", "Solar current", "Percent of the solar current", "Solar current less a value (mA)", "Solar surplus"];

// A rule's days (bit 0 Monday … bit 6 Sunday; every day without any) as
// one checked-or-not per day, Monday first.
export const dayChecks = (days) => DAYS.map((_, i) => (((days ?? 127) >> i) & 1) === 1);

// The days' bits from the days checked (Monday first).
export const daysMask = (checks) => checks.reduce((mask, on, i) => (on ? mask | (1 << i) : mask), 0);

// A new rule: every day, a fixed current, enabled.
export const NEW_RULE = { days: 127, mode: 0, enabled: true };

// The rule in the API's JSON from what its form holds (f: enabled, days as
// seven checks, mode, and the texts of current, solar, price_level, udur,
// time, dur, expr, input); empty optional fields are left out. Rule i
// (from 0) is named in an error.
export function ruleFromForm(f, i) {
  const where = `Rule ${i + 1}: `;
  const r = { enabled: f.enabled, days: daysMask(f.days), mode: Number(f.mode) };
  for (const k of ["current", "solar", "price_level", "udur"]) {
    const t = (f[k] ?? "").trim();
    if (t === "") continue;
    if (!Number.isFinite(Number(t))) throw new Error(`${where}${k} "${t}" is not a number`);
    r[k] = Number(t);
  }
  for (const k of ["time", "dur"]) {
    const t = (f[k] ?? "").trim();
    if (t === "") continue;
    const min = minutesOf(t);
    if (min === null) throw new Error(`${where}${k} "${t}" is not a time as HH:MM`);
    r[k] = min;
  }
  for (const k of ["expr", "input"]) {
    const t = (f[k] ?? "").trim();
    if (t) r[k] = t;
  }
  return r;
}
