// The MQTT connection (get_dev_info's params.mqtt) in words. Pure: no DOM;
// the dashboard and the Settings page draw it.

import { dateTimeText, num } from "./format.js";

// One line and its look ("ok", "warn" while connecting, "err" while not
// connected); null when MQTT is off (no [mqtt] url).
export function mqttLine(m, locale = [], timeZone = undefined) {
  if (!m || m.state === "off") return null;
  const since = num(m.since) && m.since > 0 ? " since " + dateTimeText(m.since, locale, timeZone) : "";
  if (m.state === "connected") return { text: `MQTT: connected to ${m.broker}${since}`, cls: "ok" };
  if (m.state === "connecting") return { text: `MQTT: connecting to ${m.broker}…`, cls: "warn" };
  const why = m.last_error ? `: ${m.last_error}` : "";
  return { text: `MQTT: not connected to ${m.broker}${since}${why} (it tries again)`, cls: "err" };
}

// The settings in force and the counters, as [label, value] pairs.
export function mqttFacts(m) {
  if (!m || m.state === "off") return [];
  const secs = num(m.interval_ms) ? `${m.interval_ms / 1000} s` : "—";
  return [
    ["Broker", m.broker],
    ["Topics", `${m.prefix}/…`],
    ["State published every", secs],
    ["Home Assistant discovery", m.homeassistant ? "on" : "off"],
    ["Commands that change something", m.allow_api_writes ? "allowed (api/ and Home Assistant's controls)" : "refused (only reads)"],
    ["Messages", `${m.published} published, ${m.received} received; ${m.connects} connection${m.connects === 1 ? "" : "s"} since the start`],
  ];
}
