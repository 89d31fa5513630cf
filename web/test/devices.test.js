import test from "node:test";
import assert from "node:assert/strict";
import { DEVICE_FIELDS, defaultType, fieldsOf, isBoxType, isEvseType, isModbusType, kindOf, nextId, typeOptions } from "../js/lib/devices.js";

// get_params's dev_meta as the daemon answers it today.
const META = {
  evse_powerbrain: "cFos Power Brain Wallbox", meter_powerbrain: "cFos Power Brain S0 Meter",
  meter_sdm630: "Eastron SDM630 / SDM630MCT / SDM72DM-V2", meter_sdm72dm: "Eastron SDM72DM V1",
  meter_orno_we516: "Orno OR-WE-516", evse_group: "EVSE group", meter_ajax: "HTTP input", evse_ajax: "HTTP input",
};

test("the type list is the daemon's, in its order, with each key", () => {
  const options = typeOptions(META);
  assert.deepEqual(options.map(([key]) => key), Object.keys(META));
  assert.deepEqual(options[0], ["evse_powerbrain", "cFos Power Brain Wallbox (evse_powerbrain)"]);
  assert.deepEqual(typeOptions(undefined), []);
  assert.equal(defaultType(META), "evse_powerbrain");
  assert.equal(defaultType({ meter_x: "X", evse_y: "Y" }), "meter_x", "the first when there is no Power Brain");
});

test("a configured device's kind is what the daemon reports of it", () => {
  assert.equal(kindOf({ dev_type: "evse_powerbrain", is_evse: true }), "evse");
  assert.equal(kindOf({ dev_type: "evse_ajax", is_evse: true }), "evse");
  assert.equal(kindOf({ dev_type: "evse_group", is_evse: true }), "group");
  assert.equal(kindOf({ dev_type: "meter_sdm630", is_evse: false }), "meter");
});

test("a type's kind follows its cFos key", () => {
  assert.ok(isEvseType("evse_group") && isEvseType("evse_ajax") && !isEvseType("meter_powerbrain"));
  assert.ok(isBoxType("evse_powerbrain") && isBoxType("evse_ajax") && !isBoxType("evse_group"));
  assert.ok(isModbusType("meter_sdm630") && !isModbusType("meter_ajax") && !isModbusType("evse_group"));
});

test("the form asks each type only what applies to it", () => {
  assert.deepEqual(fieldsOf("meter_sdm630"), ["name", "desc", "address", "id", "device_enabled", "role", "invert"]);
  assert.deepEqual(fieldsOf("meter_ajax"), ["name", "desc", "device_enabled", "role", "invert", "timeout_s"]);
  assert.deepEqual(fieldsOf("evse_group"), ["name", "desc", "device_enabled", "max_charging_cur", "group"]);
  assert.deepEqual(fieldsOf("evse_powerbrain"), ["name", "desc", "address", "id", "device_enabled", "label", "min_charging_cur",
    "max_charging_cur", "prio", "phase_rotation", "used_phases", "group", "attach"]);
  for (const t of Object.keys(META)) assert.ok(fieldsOf(t).includes("name"), t);
  const role = DEVICE_FIELDS.find(([def]) => def[0] === "role")[0];
  assert.deepEqual(role[3][3], [3, "Grid"]);
});

test("a new device gets the first free E<n> or M<n>, whatever the case", () => {
  const devices = [{ dev_id: "E1" }, { dev_id: "e2" }, { dev_id: "M2" }, { dev_id: "E4" }];
  assert.equal(nextId(devices, "evse_powerbrain"), "E3");
  assert.equal(nextId(devices, "evse_group"), "E3");
  assert.equal(nextId(devices, "meter_sdm630"), "M1");
  assert.equal(nextId([], "meter_ajax"), "M1");
  assert.equal(nextId([{ dev_id: "M1" }], "meter_ajax"), "M2");
});
