import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CHOICE_FIELDS, ID_FIELDS, askingRows, defaultType, deviceFields, fieldsOf, filterQuery, isWallbox, kindOf, metaOf, nextId, roleOptions, typeInfo, typeOptions } from "../js/lib/devices.js";

// get_params's dev_meta and meta as the daemon answers them (a unit test
// of the daemon, src/api/meta.rs, checks this file against its answer).
const DAEMON = JSON.parse(readFileSync(new URL("daemon-meta.json", import.meta.url), "utf8"));
const META = metaOf(DAEMON);

test("the type list is the daemon's, in its order, with each key", () => {
  const options = typeOptions(META);
  assert.deepEqual(options.map(([key]) => key), Object.keys(DAEMON.dev_meta));
  assert.deepEqual(options[0], ["evse_powerbrain", "cFos Power Brain Wallbox (evse_powerbrain)"]);
  assert.deepEqual(typeOptions(metaOf({})), [], "a daemon without types offers none");
  assert.equal(defaultType(META), "evse_powerbrain");
  const meterFirst = metaOf({ dev_meta: { meter_x: "X", evse_y: "Y" }, meta: { dev_types: { meter_x: { kind: "meter", link: "modbus" }, evse_y: { kind: "wallbox", link: "http_input" } } } });
  assert.equal(defaultType(meterFirst), "meter_x", "the first type when no wallbox is reached over Modbus");
});

test("a configured device's kind is what the daemon says of its type", () => {
  assert.equal(kindOf(META, { dev_type: "evse_powerbrain", is_evse: true }), "wallbox");
  assert.equal(kindOf(META, { dev_type: "evse_ajax", is_evse: true }), "wallbox");
  assert.equal(kindOf(META, { dev_type: "evse_group", is_evse: true }), "group");
  assert.equal(kindOf(META, { dev_type: "meter_sdm630", is_evse: false }), "meter");
  assert.equal(kindOf(META, { dev_type: "evse_new", is_evse: true }), "wallbox", "a type the page was not told of: by is_evse");
  const devices = [{ dev_id: "E1", dev_type: "evse_powerbrain" }, { dev_id: "E2", dev_type: "evse_group" }, { dev_id: "M1", dev_type: "meter_ajax" }];
  assert.deepEqual(devices.filter(isWallbox(META)).map((d) => d.dev_id), ["E1"]);
});

test("the fields the views ask get_dev_info for are ones the daemon knows, and enough", () => {
  // A field the daemon does not know is refused with 400: the view would fail.
  for (const f of [...CHOICE_FIELDS, ...ID_FIELDS]) assert.ok(DAEMON.meta.device_fields.includes(f), f);
  assert.deepEqual(filterQuery(CHOICE_FIELDS), { fields: "dev_type,is_evse,name" });
  // A wallbox as the users' view gets it (only those keys and the dev_id) is still told apart.
  const chosen = [{ dev_id: "E1", dev_type: "evse_powerbrain", is_evse: true, name: "Carport" },
    { dev_id: "M1", dev_type: "meter_sdm630", is_evse: false, name: "Grid" }, { dev_id: "E9", dev_type: "evse_new", is_evse: true, name: "?" }];
  assert.deepEqual(chosen.filter(isWallbox(META)).map((d) => d.dev_id), ["E1", "E9"]);
});

test("the daemon's words for the roles, by number, as select options", () => {
  assert.deepEqual(roleOptions(META)[3], [3, "Grid"]);
  assert.deepEqual(roleOptions(META).map(([n]) => n), [0, 1, 2, 3, 4, 5, 6]);
  const role = deviceFields(META).find(([def]) => def[0] === "role")[0];
  assert.deepEqual(role[3], roleOptions(META));
});

test("an OCPP wallbox is asked its charge point id, connector and password", () => {
  assert.equal(typeInfo(META, "evse_ocpp").link, "ocpp");
  const fields = fieldsOf(META, "evse_ocpp");
  for (const key of ["address", "id", "password", "fail_safe_current", "timeout_s", "min_charging_cur", "max_charging_cur"]) {
    assert.ok(fields.includes(key), key);
  }
  // Its address and connector are their own fields (their own element ids),
  // not the Modbus address and unit id.
  const shown = deviceFields(META).filter(([, when]) => when(typeInfo(META, "evse_ocpp")));
  assert.equal(shown.find(([def]) => def[0] === "address")[0][1], "Charge point id");
  assert.equal(shown.find(([def]) => def[0] === "address")[2], "ocpp-");
  assert.ok(!fieldsOf(META, "evse_powerbrain").includes("password"));
});

test("charge points asking to connect are rows to adopt", () => {
  assert.deepEqual(askingRows({}), [], "none asking: no rows (the key is left out)");
  const info = { ocpp_asking: [{ id: "ALFEN-0815", peer: "192.168.1.7", attempts: 3, secs: 5 }, { id: "CP2", peer: "10.0.0.2", attempts: 1, secs: 0 }] };
  assert.deepEqual(askingRows(info), [
    { id: "ALFEN-0815", text: "ALFEN-0815 from 192.168.1.7: asked 3 times, last 5 s ago" },
    { id: "CP2", text: "CP2 from 10.0.0.2: asked once, last 0 s ago" },
  ]);
});

test("the form asks each type only what applies to it", () => {
  assert.deepEqual(fieldsOf(META, "meter_sdm630"), ["name", "desc", "address", "id", "device_enabled", "role", "invert"]);
  assert.deepEqual(fieldsOf(META, "meter_ajax"), ["name", "desc", "device_enabled", "role", "invert", "timeout_s"]);
  // An HTTP-JSON meter is asked at its address; it has no Modbus unit id.
  assert.deepEqual(fieldsOf(META, "meter_shelly_pro_3em"), ["name", "desc", "address", "device_enabled", "role", "invert"]);
  // A Power Brain has a 1p/3p relay and wakes cars; a Heidelberg has neither.
  assert.deepEqual(fieldsOf(META, "evse_heidelberg"), fieldsOf(META, "evse_powerbrain").filter((f) => !f.startsWith("phase_switch") && f !== "wake_up"));
  assert.deepEqual(fieldsOf(META, "evse_group"), ["name", "desc", "device_enabled", "max_charging_cur", "group"]);
  assert.deepEqual(fieldsOf(META, "evse_powerbrain"), ["name", "desc", "address", "id", "device_enabled", "label", "min_charging_cur",
    "max_charging_cur", "prio", "phase_rotation", "used_phases", "group", "attach",
    "phase_switching", "phase_switch_pause_s", "phase_switch_min_interval_s", "wake_up"]);
  assert.deepEqual(fieldsOf(META, "evse_ajax"), ["name", "desc", "device_enabled", "label", "min_charging_cur",
    "max_charging_cur", "prio", "phase_rotation", "used_phases", "group", "attach", "timeout_s"]);
  for (const t of Object.keys(DAEMON.dev_meta)) {
    assert.ok(fieldsOf(META, t).includes("name"), t);
    assert.ok(["wallbox", "group", "meter"].includes(typeInfo(META, t).kind), t);
  }
});

test("a new device gets the first free E<n> or M<n>, whatever the case", () => {
  const devices = [{ dev_id: "E1" }, { dev_id: "e2" }, { dev_id: "M2" }, { dev_id: "E4" }];
  assert.equal(nextId(META, devices, "evse_powerbrain"), "E3");
  assert.equal(nextId(META, devices, "evse_group"), "E3");
  assert.equal(nextId(META, devices, "meter_sdm630"), "M1");
  assert.equal(nextId(META, [], "meter_ajax"), "M1");
  assert.equal(nextId(META, [{ dev_id: "M1" }], "meter_ajax"), "M2");
});

test("a wallbox's rotation may be set to auto, kept as the text the daemon takes", () => {
  const rotation = deviceFields(META).find(([def]) => def[0] === "phase_rotation")[0];
  assert.deepEqual(rotation[3].map(([value]) => value), [0, 120, 240, "auto"]);
});
