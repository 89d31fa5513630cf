// Device types and kinds. Pure: no DOM.
//
// What the page knows of device types, roles and states is what the daemon
// says in get_params: `dev_meta` (type key → name) and `meta` (each type's
// kind and link, the meter roles and wallbox states in words). metaOf()
// keeps both as one object, `meta` below:
//   { names: { key: name }, dev_types: { key: { kind, link } },
//     roles: { number: words }, evse_states: { number: words } }
// kind is "wallbox", "group" or "meter"; link is "modbus" (it needs an
// address), "http_json" (asked over HTTP at its address), "http_input" (its
// values are pushed), "ocpp" (its charge point connects; the address is the
// charge point id) or "none".

export const metaOf = (params) => ({ names: params.dev_meta || {}, dev_types: {}, roles: {}, evse_states: {}, ...params.meta });

// What the daemon says of type key t: { kind, link }, {} if it does not know it.
export const typeInfo = (meta, t) => meta.dev_types[t] || {};

// Predicates on a typeInfo().
const isEvse = (ti) => ti.kind === "wallbox" || ti.kind === "group";
const isBox = (ti) => ti.kind === "wallbox";
const isMeter = (ti) => ti.kind === "meter";
const isModbus = (ti) => ti.link === "modbus";
const isHttpInput = (ti) => ti.link === "http_input";
const hasAddress = (ti) => isModbus(ti) || ti.link === "http_json";
const isOcpp = (ti) => ti.link === "ocpp";
const canSwitchPhases = (ti) => ti.phase_switching === true;
const canWake = (ti) => ti.wake_up === true;
const always = () => true;

// What a configured device is: "wallbox", "group" or "meter"; by its
// type, else by what the daemon reports of it (is_evse).
export const kindOf = (meta, d) => typeInfo(meta, d.dev_type).kind || (d.is_evse ? "wallbox" : "meter");
export const isWallbox = (meta) => (d) => kindOf(meta, d) === "wallbox";

// What a view asks get_dev_info for when it does not show the devices'
// live values (its fields= filter; each device keeps its dev_id): a list
// of wallboxes to choose from needs what kindOf() reads and the name; a
// view that reads only params or ocpp_asking, no more than the dev_ids.
export const CHOICE_FIELDS = ["dev_type", "is_evse", "name"];
export const ID_FIELDS = ["dev_id"];
export const filterQuery = (fields) => ({ fields: fields.join(",") });

// The type list for a form: [key, "Name (key)"] in the daemon's order.
export const typeOptions = (meta) => Object.entries(meta.names).map(([key, name]) => [key, `${name} (${key})`]);

// The type a new device starts as: the daemon's first wallbox reached over
// Modbus, else its first type.
export function defaultType(meta) {
  const keys = Object.keys(meta.names);
  return keys.find((t) => { const ti = typeInfo(meta, t); return isBox(ti) && isModbus(ti); }) ?? keys[0];
}

// The meter roles as select options, [number, words], by number.
export const roleOptions = (meta) => Object.entries(meta.roles).map(([n, words]) => [+n, words]).sort((a, b) => a[0] - b[0]);

// The first free E<n> (wallboxes and groups) or M<n> (meters) among the
// devices, case-insensitively as the daemon compares ids.
export function nextId(meta, devices, type) {
  const prefix = isEvse(typeInfo(meta, type)) ? "E" : "M";
  const used = new Set(devices.map((d) => d.dev_id.toUpperCase()));
  let n = 1;
  while (used.has(prefix + n)) n++;
  return prefix + n;
}

// The device form: [field definition (see form.js), applies to (given a
// typeInfo), prefix of its element id where two fields share a key], the
// roles as the daemon names them.
export const deviceFields = (meta) => [
  [["name", "Name", "text"], always],
  [["desc", "Description", "text"], always],
  [["address", "Address", "text", "host:port, a serial line such as /dev/ttyUSB0,9600,8,n,1, or evse, meter1, meter2; for an HTTP-JSON meter its host or http://host:port"], hasAddress],
  [["id", "Modbus unit id", "number", "1 to 247"], isModbus],
  [["address", "Charge point id", "text", "as the wallbox's OCPP settings name it; it connects to ws://this-address:port/ocpp/<id>"], isOcpp, "ocpp-"],
  [["id", "Connector", "number", "1 unless the charge point has several"], isOcpp, "ocpp-"],
  [["password", "Charge point password (OCPP security profile 1; empty: none or unchanged)", "text"], isOcpp],
  [["fail_safe_current", "Fail-safe current (mA; the wallbox falls back to it when chargebrain is gone; 0 = stop)", "number"], isOcpp],
  [["device_enabled", "Enabled", "check"], always],
  [["label", "Label (shown while a car is plugged in)", "text"], isBox],
  [["min_charging_cur", "Minimum current (mA)", "number", "at least 6000"], isBox],
  [["max_charging_cur", "Maximum current per phase (mA)", "formula", "A number of mA, or a formula, e.g. 20000 - M1.current"], isEvse],
  [["prio", "Priority (higher is served first)", "number"], isBox],
  [["phase_rotation", "Phase rotation", "select",
    [[0, "0° (L1 L2 L3)"], [120, "120° (L2 L3 L1)"], [240, "240° (L3 L1 L2)"], ["auto", "auto (measured from the grid meter)"]]], isBox],
  [["used_phases", "Phases used", "select",
    [[0, "detect"], [1, "L1"], [2, "L2"], [4, "L3"], [3, "L1 + L2"], [5, "L1 + L3"], [6, "L2 + L3"], [7, "L1 + L2 + L3"]]], isBox],
  [["group", "Group (number n of its evse_group En; 0 = none)", "number"], isEvse],
  [["attach", "Meter that measures this wallbox (its dev_id; empty = its own meter)", "text"], isBox],
  [["phase_switching", "1p/3p switching", "select",
    [["off", "off"], ["auto", "auto: one phase when three do not fit"], ["1p", "always one phase"], ["3p", "always three phases"]]], canSwitchPhases],
  [["phase_switch_pause_s", "Pause for a 1p/3p switch (s)", "number", "5 to 600; a Power Brain needs 120"], canSwitchPhases],
  [["phase_switch_min_interval_s", "Least time between two 1p/3p switches (s)", "number", "60 to 86400"], canSwitchPhases],
  [["wake_up", "Wake a car that does not start (once per session)", "check"], canWake],
  [["role", "Role", "select", roleOptions(meta)], isMeter],
  [["invert", "Invert currents and power (mounted the other way round)", "check"], isMeter],
  [["timeout_s", "Values count as missing after (s)", "number", "empty: unchanged (60 for a new device)"], (ti) => isHttpInput(ti) || isOcpp(ti)],
];

// The keys of the form's fields that a device of type t has.
export const fieldsOf = (meta, t) => deviceFields(meta).filter(([, when]) => when(typeInfo(meta, t))).map(([def]) => def[0]);

// A new device's values where the form starts.
export const DEVICE_DEFAULTS = { id: 1, device_enabled: true, min_charging_cur: 6000, max_charging_cur: 16000, prio: 1, phase_rotation: 0, used_phases: 0, group: 0, role: 0, invert: false, phase_switching: "off", phase_switch_pause_s: 120, phase_switch_min_interval_s: 600, wake_up: true };

// get_dev_info's charge points asking to connect (`ocpp_asking`), as rows
// for the list with an "Adopt" button: { id, text }.
export const askingRows = (info) => (info.ocpp_asking || []).map((a) => ({
  id: a.id,
  text: `${a.id} from ${a.peer}: asked ${a.attempts === 1 ? "once" : a.attempts + " times"}, last ${a.secs} s ago`,
}));
