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

import { mqttChange, mqttSource } from "../js/lib/mqtt.js";

// get_mqtt's answer for settings.toml's [mqtt] with a broker and a password.
const loaded = {
  url: "mqtt://192.168.1.10:1883", client_id: "", username: "cb", password_set: true, prefix: "cfos_mqtt",
  interval_ms: 1000, homeassistant: false, discovery_prefix: "homeassistant", allow_api_writes: false,
  ca_file: "", source: "settings.toml",
};
// The form as the page fills it from `loaded`: the password field empty.
const form = { ...loaded, interval_ms: "1000", password: "" };

test("only what changed is sent; an empty password keeps it", () => {
  assert.deepEqual(mqttChange(loaded, form), {});
  assert.deepEqual(mqttChange(loaded, { ...form, prefix: " site2 ", interval_ms: "500", homeassistant: true }),
    { prefix: "site2", interval_ms: 500, homeassistant: true });
  assert.deepEqual(mqttChange(loaded, { ...form, password: "new pw" }), { password: "new pw" });
  assert.deepEqual(mqttChange(loaded, { ...form, url: "" }), { url: "" }, "an empty broker turns MQTT off");
});

test("what the daemon would refuse is named before it is sent", () => {
  for (const [change, said] of [
    [{ url: "http://h" }, "Broker: 'http://h' is not an address"],
    [{ url: "mqtt://u:p@h" }, "Broker: give the user name and password in their own fields"],
    [{ url: "mqtt://h:0" }, "Broker: 'mqtt://h:0': '0' is not a port"],
    [{ url: "mqtt://h:99999" }, "is not a port"],
    [{ url: "mqtt://h/topic" }, "has a path"],
    [{ url: "mqtt://" }, "has no valid host name"],
    [{ prefix: "a/+/b" }, "Topic prefix: 'a/+/b' is not a topic root"],
    [{ prefix: "cfos_mqtt/" }, "Topic prefix"],
    [{ discovery_prefix: "" }, "Home Assistant's discovery prefix"],
    [{ interval_ms: "5" }, "Publish the state every: '5' is not 100 to 3600000 ms"],
    [{ interval_ms: "fast" }, "is not 100 to 3600000"],
    [{ username: "", password: "x" }, "Password: is given without a user name"],
  ]) {
    assert.throws(() => mqttChange(loaded, { ...form, ...change }), (e) => e.message.startsWith(said) || e.message.includes(said),
      JSON.stringify(change));
  }
  assert.deepEqual(mqttChange(loaded, { ...form, url: "mqtts://[::1]:8883/" }), { url: "mqtts://[::1]:8883/" });
});

test("where the settings come from", () => {
  assert.match(mqttSource(loaded), /settings\.toml/);
  assert.match(mqttSource({ ...loaded, source: "state" }), /Set on this page/);
});
