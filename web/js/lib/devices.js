// Device types and kinds. Pure: no DOM.
//
// The daemon names its device types in `dev_meta` (get_params,
// get_dev_types: key → display name) and says of each configured device
// whether it is a wallbox (`is_evse`). What it does not say of a type is
// its kind: that follows the cFos keys, evse_* for wallboxes and groups,
// meter_* for meters; evse_group is a group, *_ajax an HTTP-input device.

import { ROLES } from "./words.js";

export const isEvseType = (t) => t.startsWith("evse_");
export const isGroupType = (t) => t === "evse_group";
// A wallbox a car plugs into (not a group).
export const isBoxType = (t) => isEvseType(t) && !isGroupType(t);
export const isHttpInputType = (t) => t.endsWith("_ajax");
// Reached at an address over Modbus (not a group, not HTTP input).
export const isModbusType = (t) => !isGroupType(t) && !isHttpInputType(t);

// What a configured device is, as the daemon reports it: "group", "evse"
// (a wallbox) or "meter".
export function kindOf(d) {
  if (isGroupType(d.dev_type)) return "group";
  return d.is_evse ? "evse" : "meter";
}
export const isWallbox = (d) => kindOf(d) === "evse";

// The type list for a form: [key, "Name (key)"] in the daemon's order.
export const typeOptions = (meta) => Object.entries(meta || {}).map(([key, name]) => [key, `${name} (${key})`]);

// The type a new device starts as: a Power Brain wallbox if the daemon
// knows it, else its first type.
export function defaultType(meta) {
  const keys = Object.keys(meta || {});
  return keys.includes("evse_powerbrain") ? "evse_powerbrain" : keys[0];
}

// The first free E<n> (wallboxes and groups) or M<n> (meters) among the
// devices, case-insensitively as the daemon compares ids.
export function nextId(devices, type) {
  const prefix = isEvseType(type) ? "E" : "M";
  const used = new Set(devices.map((d) => d.dev_id.toUpperCase()));
  let n = 1;
  while (used.has(prefix + n)) n++;
  return prefix + n;
}

const always = () => true;
// The device form: [field definition (see form.js), types it applies to].
export const DEVICE_FIELDS = [
  [["name", "Name", "text"], always],
  [["desc", "Description", "text"], always],
  [["address", "Address", "text", "host:port, a serial line such as /dev/ttyUSB0,9600,8,n,1, or evse, meter1, meter2"], isModbusType],
  [["id", "Modbus unit id", "number", "1 to 247"], isModbusType],
  [["device_enabled", "Enabled", "check"], always],
  [["label", "Label (shown while a car is plugged in)", "text"], isBoxType],
  [["min_charging_cur", "Minimum current (mA)", "number", "at least 6000"], isBoxType],
  [["max_charging_cur", "Maximum current per phase (mA)", "formula", "A number of mA, or a formula, e.g. 20000 - M1.current"], isEvseType],
  [["prio", "Priority (higher is served first)", "number"], isBoxType],
  [["phase_rotation", "Phase rotation", "select", [[0, "0° (L1 L2 L3)"], [120, "120° (L2 L3 L1)"], [240, "240° (L3 L1 L2)"]]], isBoxType],
  [["used_phases", "Phases used", "select",
    [[0, "detect"], [1, "L1"], [2, "L2"], [4, "L3"], [3, "L1 + L2"], [5, "L1 + L3"], [6, "L2 + L3"], [7, "L1 + L2 + L3"]]], isBoxType],
  [["group", "Group (number n of its evse_group En; 0 = none)", "number"], isEvseType],
  [["attach", "Meter that measures this wallbox (its dev_id; empty = its own meter)", "text"], isBoxType],
  [["role", "Role", "select", ROLES.map((r, i) => [i, r])], (t) => !isEvseType(t)],
  [["invert", "Invert currents and power (mounted the other way round)", "check"], (t) => !isEvseType(t)],
  [["timeout_s", "Values count as missing after (s)", "number", "empty: unchanged (60 for a new device)"], isHttpInputType],
];

// The keys of the form's fields that a device of type t has.
export const fieldsOf = (t) => DEVICE_FIELDS.filter(([, when]) => when(t)).map(([def]) => def[0]);

// A new device's values where the form starts.
export const DEVICE_DEFAULTS = { id: 1, device_enabled: true, min_charging_cur: 6000, max_charging_cur: 16000, prio: 1, phase_rotation: 0, used_phases: 0, group: 0, role: 0, invert: false };
