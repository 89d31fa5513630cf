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

// The [mqtt] fields the Settings page edits, as form.js's field defs:
// [key, label, type, hint]. The password is never shown (get_mqtt says only
// whether one is set); an empty password field keeps it.
export const MQTT_FIELDS = [
  ["url", "Broker (empty: MQTT off)", "text", "mqtt://192.168.1.10:1883, or mqtts://broker:8883 for TLS"],
  ["username", "User name", "text"],
  ["password", "Password", "password"],
  ["client_id", "Client id (empty: chargebrain_<serial number>)", "text"],
  ["prefix", "Topic prefix", "text", "cFos clients expect cfos_mqtt"],
  ["interval_ms", "Publish the state every (ms)", "number"],
  ["homeassistant", "Home Assistant discovery", "check"],
  ["discovery_prefix", "Home Assistant's discovery prefix", "text"],
  ["allow_api_writes", "Take commands that change something (api/ and Home Assistant's controls); anyone who may publish to the broker can then change settings", "check"],
  ["ca_file", "Certificate authorities for mqtts:// (a PEM file on the daemon's machine; empty: the system's)", "text"],
];

// Why a topic root is refused, or "" (as the daemon checks it).
function topicRootProblem(root) {
  if (!root || root.length > 200 || root.split("/").some((level) => level === "") || /[+#\s\p{Cc}]/u.test(root)) {
    return `'${root}' is not a topic root (levels of text split by /, without +, #, spaces or an empty level)`;
  }
  return "";
}

// Why a broker address is refused, or "".
function urlProblem(url) {
  if (url === "") return "";
  const m = /^(mqtts?):\/\/(.*)$/.exec(url);
  if (!m) return `'${url}' is not an address like mqtt://192.168.1.10:1883 or mqtts://broker:8883`;
  const rest = m[2].replace(/\/+$/, "");
  if (rest.includes("@")) return "give the user name and password in their own fields, not in the address";
  if (/[/?#]/.test(rest)) return `'${url}' has a path; give only mqtt://host:port`;
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(.*))?$/.exec(rest);
  const host = hp ? hp[1].replace(/^\[|\]$/g, "") : "";
  if (!host || !/^[A-Za-z0-9._:-]+$/.test(host)) return `'${url}' has no valid host name`;
  if (hp[2] !== undefined) {
    const port = Number(hp[2]);
    if (!/^\d+$/.test(hp[2]) || port < 1 || port > 65535) return `'${url}': '${hp[2]}' is not a port (1 to 65535)`;
  }
  return "";
}

// The set_mqtt body for what the form holds against what get_mqtt gave:
// the fields that changed, trimmed; the password only when one is typed.
// Throws an Error naming the field when a value would be refused (the
// daemon checks again, the same way).
export function mqttChange(loaded, form) {
  const text = (k) => String(form[k] ?? "").trim();
  const next = {
    url: text("url"),
    username: text("username"),
    client_id: text("client_id"),
    prefix: text("prefix"),
    discovery_prefix: text("discovery_prefix"),
    ca_file: text("ca_file"),
    homeassistant: !!form.homeassistant,
    allow_api_writes: !!form.allow_api_writes,
  };
  const interval = text("interval_ms");
  if (!/^\d+$/.test(interval) || Number(interval) < 100 || Number(interval) > 3600000) {
    throw new Error(`Publish the state every: '${interval}' is not 100 to 3600000 ms`);
  }
  next.interval_ms = Number(interval);
  const problems = [
    ["Broker", urlProblem(next.url)],
    ["Topic prefix", topicRootProblem(next.prefix)],
    ["Home Assistant's discovery prefix", topicRootProblem(next.discovery_prefix)],
    ["Client id", next.client_id.length > 128 ? "at most 128 characters" : ""],
  ];
  const password = String(form.password ?? "");
  if (password && !next.username) problems.push(["Password", "is given without a user name (MQTT sends a password only with one)"]);
  const found = problems.find(([, why]) => why);
  if (found) throw new Error(`${found[0]}: ${found[1]}`);
  const body = {};
  for (const [k, v] of Object.entries(next)) if (v !== (loaded[k] ?? (typeof v === "boolean" ? false : ""))) body[k] = v;
  if (password) body.password = password;
  return body;
}

// Where the settings in force come from, in words.
export function mqttSource(loaded) {
  return loaded.source === "state"
    ? "Set on this page (kept in the state file; settings.toml's [mqtt] no longer applies)."
    : "From settings.toml's [mqtt] until saved here; once saved here, this page's settings apply.";
}
