import test from "node:test";
import assert from "node:assert/strict";
import { mqttFacts, mqttLine } from "../js/lib/mqtt.js";

// params.mqtt as get_dev_info gives it.
const connected = {
  state: "connected", broker: "mqtt://192.168.1.10:1883", since: 1764612000, last_error: "",
  connects: 2, published: 1234, received: 5, prefix: "cfos_mqtt", interval_ms: 1000, homeassistant: true, allow_api_writes: false,
};

test("off says nothing", () => {
  assert.equal(mqttLine({ ...connected, state: "off", broker: "" }), null);
  assert.equal(mqttLine(undefined), null, "a daemon without MQTT");
  assert.deepEqual(mqttFacts({ state: "off" }), []);
});

test("each state in a line, with when it began and why it ended", () => {
  assert.deepEqual(mqttLine(connected, "en-GB", "UTC"), {
    text: "MQTT: connected to mqtt://192.168.1.10:1883 since 01/12/2025, 18:00", cls: "ok",
  });
  assert.deepEqual(mqttLine({ ...connected, state: "connecting", since: 0 }), {
    text: "MQTT: connecting to mqtt://192.168.1.10:1883…", cls: "warn",
  });
  const lost = mqttLine({ ...connected, state: "disconnected", last_error: "the broker refused the credentials: bad user name or password" }, "en-GB", "UTC");
  assert.equal(lost.cls, "err");
  assert.equal(lost.text, "MQTT: not connected to mqtt://192.168.1.10:1883 since 01/12/2025, 18:00: " +
    "the broker refused the credentials: bad user name or password (it tries again)");
});

test("the settings in force and the counters", () => {
  const facts = Object.fromEntries(mqttFacts(connected));
  assert.equal(facts["Topics"], "cfos_mqtt/…");
  assert.equal(facts["State published every"], "1 s");
  assert.equal(facts["Home Assistant discovery"], "on");
  assert.equal(facts["Commands that change something"], "refused (only reads)");
  assert.equal(facts["Messages"], "1234 published, 5 received; 2 connections since the start");
  assert.equal(Object.fromEntries(mqttFacts({ ...connected, connects: 1 }))["Messages"], "1234 published, 5 received; 1 connection since the start");
  assert.equal(Object.fromEntries(mqttFacts({ ...connected, allow_api_writes: true }))["Commands that change something"],
    "allowed (api/ and Home Assistant's controls)");
});
