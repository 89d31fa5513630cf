// What a user typed, as the API wants it. Pure: no DOM. Each throws an
// Error whose message names the field.

import { same } from "./format.js";

// A number as JSON writes it (a formula is anything else).
const NUMBER = /^-?\d+(\.\d*)?(e[+-]?\d+)?$/i;

// The value of a form field of type text, number, optional (a number that
// an empty field clears: null) or formula (a number of mA or a formula's
// text). undefined for an empty field that is not optional.
export function fieldValue(type, text, label) {
  if (type === "text") return text;
  const t = text.trim();
  if (t === "") return type === "optional" ? null : undefined;
  // A number is sent as a number (the daemon refuses a fraction of a mA),
  // anything else as a formula.
  if (type === "formula") return NUMBER.test(t) ? Number(t) : t;
  const n = Number(t);
  if (!Number.isFinite(n)) throw new Error(`${label}: "${t}" is not a number`);
  return n;
}

// The fields ({key, label, orig, read()}) whose value differs from what
// was loaded (orig), or with `all` every field with a value. read() gives
// undefined for an empty field; emptying one that had a value is an error.
export function changedValues(fields, all = false) {
  const out = {};
  for (const f of fields) {
    const v = f.read();
    if (v === undefined) {
      if (f.orig !== undefined) throw new Error(`${f.label}: needs a value`);
      continue;
    }
    if (all || !same(v, f.orig)) out[f.key] = v;
  }
  return out;
}

// Amperes as typed ("8", "7.5") as mA; null if that is no current.
export function milliamps(text) {
  const a = parseFloat(text);
  if (!(a >= 0)) return null;
  return Math.round(a * 1000);
}

// Card ids or PINs separated by commas, semicolons or spaces.
export const cardIds = (text) => text.split(/[\s,;]+/).filter(Boolean);
