// Numbers and times in words. Pure: no DOM, so `node --test` loads it too.

export const num = (v) => typeof v === "number" && Number.isFinite(v);

// Currents come in mA, power in W, energy in Wh; "—" where there is no value.
export const amps = (ma) => (num(ma) ? (ma / 1000).toFixed(1) + " A" : "—");
export const kw = (w) => (num(w) ? (w / 1000).toFixed(2) + " kW" : "—");
export const kwh = (wh) => (num(wh) ? (wh / 1000).toFixed(2) + " kWh" : "—");

export const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// A device's three values of one kind ("current_l" reads current_l1..3) as
// "a / b / c unit": mA as amperes with one decimal, volts as they are.
export function perPhase(d, key, unit) {
  const values = [1, 2, 3].map((n) => d[key + n]);
  if (!values.every(num)) return "—";
  return values.map((v) => (unit === "V" ? v : (v / 1000).toFixed(1))).join(" / ") + " " + unit;
}

// A battery as its inverter reports it (get_dev_info's `storage`): its state
// of charge, what it does, the charge power it allows at most; "" without
// one. Parts the device does not report are left out.
export function batteryText(s) {
  if (!s || typeof s !== "object") return "";
  const parts = [];
  if (num(s.soc)) parts.push(s.soc + " %");
  if (typeof s.state === "string" && s.state) parts.push(s.state);
  if (num(s.max_charge_w)) parts.push("charges at most " + kw(s.max_charge_w));
  return parts.length ? parts.join(" · ") : "—";
}

// Minutes after midnight as HH:MM; "" for no value.
export const hhmm = (min) =>
  num(min) ? String(Math.floor(min / 60)).padStart(2, "0") + ":" + String(min % 60).padStart(2, "0") : "";

// HH:MM as minutes after midnight; null if it is not such a time.
export function minutesOf(text) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m || +m[2] > 59) return null;
  return +m[1] * 60 + +m[2];
}

// What a time on a chart shows: seconds over short spans (ms), the day
// over spans longer than a day.
export function timeOptions(span) {
  if (span > 86400000) return { weekday: "short", hour: "2-digit", minute: "2-digit" };
  if (span > 3600000) return { hour: "2-digit", minute: "2-digit" };
  return { hour: "2-digit", minute: "2-digit", second: "2-digit" };
}

// A time (ms) for an axis or a readout, in the browser's language and zone
// unless given.
export const timeText = (ms, span, locale = [], timeZone = undefined) =>
  new Date(ms).toLocaleString(locale, { ...timeOptions(span), timeZone });

// A time of the charging log (seconds) as a short date and time.
export const dateTimeText = (secs, locale = [], timeZone = undefined) =>
  new Date(+secs * 1000).toLocaleString(locale, { dateStyle: "short", timeStyle: "short", timeZone });
