//! `[mqtt]`: the broker, the topics and what may be done over MQTT, and how
//! the admin page changes them (`set_mqtt`). Pure code.
//!
//! settings.toml's `[mqtt]` is where they start; once changed through the
//! API they are kept in the state file (`State::mqtt`), which wins from then
//! on, as it does for the devices: what the admin set on the page survives
//! a restart and an update of settings.toml.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::State;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSettings {
    /// `mqtt://host[:port]` or `mqtts://host[:port]` (TLS); credentials may
    /// be given in it too (`mqtt://user:pw@host`). Empty: no MQTT.
    pub url: String,
    /// The client id at the broker; empty: `chargebrain_<serialno>`.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// The root of the cFos topics.
    pub prefix: String,
    /// How often the state is published, ms.
    pub interval_ms: u64,
    /// Home Assistant MQTT discovery.
    pub homeassistant: bool,
    /// The root of Home Assistant's discovery topics.
    pub discovery_prefix: String,
    /// Commands over MQTT that change something (`api/`, Home Assistant's
    /// controls); reading is always allowed.
    pub allow_api_writes: bool,
    /// A PEM file of the certificate authorities that `mqtts://` trusts;
    /// empty: the system's.
    pub ca_file: String,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            url: String::new(),
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            prefix: "cfos_mqtt".into(),
            interval_ms: 1000,
            homeassistant: false,
            discovery_prefix: "homeassistant".into(),
            allow_api_writes: false,
            ca_file: String::new(),
        }
    }
}

/// Where the broker is, as `url` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub password: String,
}

impl Broker {
    /// The broker's address for people: no credentials.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl MqttSettings {
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// The broker, with the credentials of `username`/`password` or else
    /// of the URL.
    pub fn broker(&self) -> Result<Broker, String> {
        let url = self.url.trim();
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(format!(
                "'{url}' is not an address like mqtt://192.168.1.10:1883 or mqtts://broker:8883"
            ));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(format!("'{url}' has a path; give only mqtt://host:port"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("'{url}': an IPv6 address needs its closing ]"))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
        if !valid_host {
            return Err(format!("'{url}' has no valid host name"));
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("'{url}': '{p}' is not a port (1 to 65535)"))?,
        };
        let (url_user, url_password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (info.to_string(), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let (username, password) = if self.username.is_empty() {
            (url_user, url_password)
        } else {
            (self.username.clone(), self.password.clone())
        };
        Ok(Broker {
            host: host.to_string(),
            port,
            tls,
            username,
            password,
        })
    }

    /// The client id, `chargebrain_<serialno>` unless set.
    pub fn client_id_for(&self, serialno: &str) -> String {
        if self.client_id.is_empty() {
            format!("chargebrain_{serialno}")
        } else {
            self.client_id.clone()
        }
    }

    /// Every problem, as `key: what is wrong` (keys without `mqtt.`).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.enabled() {
            if let Err(e) = self.broker() {
                out.push(("url", e));
            }
        }
        for (key, value) in [
            ("prefix", &self.prefix),
            ("discovery_prefix", &self.discovery_prefix),
        ] {
            if let Err(e) = topic_root(value) {
                out.push((key, e));
            }
        }
        if self.client_id.chars().count() > 128 || self.client_id.chars().any(char::is_control) {
            out.push((
                "client_id",
                "must be printable text of at most 128 characters".into(),
            ));
        }
        if !self.password.is_empty() && self.username.is_empty() {
            out.push((
                "password",
                "is given without a username (MQTT sends a password only with one)".into(),
            ));
        }
        if !(100..=3_600_000).contains(&self.interval_ms) {
            out.push((
                "interval_ms",
                format!("{} is not 100 to 3600000", self.interval_ms),
            ));
        }
        if !self.ca_file.is_empty() && !std::path::Path::new(&self.ca_file).is_file() {
            out.push(("ca_file", format!("'{}' is not a file", self.ca_file)));
        }
        out
    }
}

/// The fields of `set_mqtt`, and `get_mqtt`'s without `password`.
pub const MQTT_FIELDS: &[&str] = &[
    "url",
    "client_id",
    "username",
    "password",
    "prefix",
    "interval_ms",
    "homeassistant",
    "discovery_prefix",
    "allow_api_writes",
    "ca_file",
];

impl MqttSettings {
    /// The same settings with credentials given in the URL moved into
    /// `username`/`password` (where the page edits them), so that the URL
    /// can be shown. The broker reached is the same.
    pub fn normalized(&self) -> MqttSettings {
        let mut out = self.clone();
        let Some((scheme, rest)) = self.url.trim().split_once("://") else {
            return out;
        };
        let Some((userinfo, hostport)) = rest.rsplit_once('@') else {
            return out;
        };
        if out.username.is_empty() {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            out.username = user.to_string();
            out.password = password.to_string();
        }
        out.url = format!("{scheme}://{hostport}");
        out
    }

    /// What `get_mqtt` shows: every field but the password, and whether
    /// one is set.
    pub fn shown(&self) -> Value {
        let s = self.normalized();
        let mut fields = match serde_json::to_value(&s) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        fields.remove("password");
        fields.insert("password_set".into(), Value::Bool(!s.password.is_empty()));
        Value::Object(fields)
    }
}

/// The MQTT settings in force: the state file's once the API changed them,
/// else settings.toml's (`start`).
pub fn mqtt_in_force(state: &State, start: &MqttSettings) -> MqttSettings {
    state.mqtt.clone().unwrap_or_else(|| start.clone())
}

/// Applies a `set_mqtt` body to the settings in force: the fields given
/// change, the others keep their value. The password is never shown, so
/// an empty or missing `password` keeps it; an empty `username` clears it
/// too (MQTT sends a password only with a user name). Credentials go in
/// their own fields, not in the URL (which the page shows). Checked whole
/// with `MqttSettings::problems`; refused naming the field, changing
/// nothing.
pub fn set_mqtt(
    state: &mut State,
    body: &Map<String, Value>,
    start: &MqttSettings,
) -> Result<(), String> {
    let base = mqtt_in_force(state, start).normalized();
    if let Some(key) = body.keys().find(|k| !MQTT_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "mqtt: unknown field {key} (known: {})",
            MQTT_FIELDS.join(", ")
        ));
    }
    let mut merged = match serde_json::to_value(&base) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in body {
        if key == "password" && value.as_str() == Some("") {
            continue;
        }
        merged.insert(key.clone(), value.clone());
    }
    let mut next: MqttSettings =
        serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string();
            format!("mqtt.{path}: {inner}")
        })?;
    next.url = next.url.trim().to_string();
    if let Some((_, rest)) = next.url.split_once("://") {
        if rest.contains('@') {
            return Err(
                "mqtt.url: give the user name and password in their own fields, not in the URL"
                    .into(),
            );
        }
    }
    let password_given = body
        .get("password")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if next.username.is_empty() && !password_given {
        next.password.clear();
    }
    let problems = next.problems();
    if !problems.is_empty() {
        let said: Vec<String> = problems
            .into_iter()
            .map(|(key, reason)| format!("mqtt.{key}: {reason}"))
            .collect();
        return Err(said.join("; "));
    }
    state.mqtt = Some(next);
    Ok(())
}

/// A root of topics: levels of printable text, no wildcards, no empty level.
fn topic_root(root: &str) -> Result<(), String> {
    let fine = !root.is_empty()
        && root.len() <= 200
        && root.split('/').all(|level| !level.is_empty())
        && !root
            .chars()
            .any(|c| c == '+' || c == '#' || c.is_control() || c.is_whitespace());
    if fine {
        Ok(())
    } else {
        Err(format!(
            "'{root}' is not a topic root (levels of text split by /, without +, #, spaces or an empty level)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> MqttSettings {
        MqttSettings {
            url: url.into(),
            ..MqttSettings::default()
        }
    }

    #[test]
    fn broker_addresses_parse_with_default_ports_and_credentials() {
        let b = with_url("mqtt://192.168.1.10").broker().unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("192.168.1.10", 1883, false)
        );
        let b = with_url("mqtts://broker.local").broker().unwrap();
        assert_eq!((b.port, b.tls), (8883, true));
        let b = with_url("mqtt://user:se:cret@[::1]:1884/")
            .broker()
            .unwrap();
        assert_eq!(
            (
                b.host.as_str(),
                b.port,
                b.username.as_str(),
                b.password.as_str()
            ),
            ("::1", 1884, "user", "se:cret")
        );
        assert_eq!(b.display(), "mqtt://[::1]:1884");
        // The settings' own username wins over the URL's.
        let s = MqttSettings {
            username: "cb".into(),
            password: "pw".into(),
            ..with_url("mqtt://u:p@h:1")
        };
        let b = s.broker().unwrap();
        assert_eq!((b.username.as_str(), b.password.as_str()), ("cb", "pw"));
    }

    #[test]
    fn bad_settings_name_their_key() {
        for (s, key) in [
            (with_url("http://h"), "url"),
            (with_url("mqtt://"), "url"),
            (with_url("mqtt://h:0"), "url"),
            (with_url("mqtt://h:70000"), "url"),
            (with_url("mqtt://h/topic"), "url"),
            (
                MqttSettings {
                    prefix: "a/+/b".into(),
                    ..MqttSettings::default()
                },
                "prefix",
            ),
            (
                MqttSettings {
                    prefix: "cfos_mqtt/".into(),
                    ..MqttSettings::default()
                },
                "prefix",
            ),
            (
                MqttSettings {
                    interval_ms: 5,
                    ..MqttSettings::default()
                },
                "interval_ms",
            ),
            (
                MqttSettings {
                    password: "x".into(),
                    ..MqttSettings::default()
                },
                "password",
            ),
        ] {
            let problems = s.problems();
            assert!(
                problems.iter().any(|(k, _)| *k == key),
                "{s:?}: {problems:?} should name {key}"
            );
        }
        assert!(MqttSettings::default().problems().is_empty());
        assert!(with_url("mqtt://127.0.0.1:1883").problems().is_empty());
    }

    fn state() -> State {
        serde_json::from_value(serde_json::json!({
            "version": crate::config::STATE_VERSION, "title": "Home", "desc": "", "params": {},
            "devices": [], "admin_hash": null,
            "license": {"accepted": false, "allow_usage_stats": false}
        }))
        .unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn settings_toml_is_in_force_until_the_api_changes_a_field_then_the_state_is() {
        let start = MqttSettings {
            url: "mqtt://cb:old@broker:1883".into(),
            prefix: "site1".into(),
            ..MqttSettings::default()
        };
        let mut s = state();
        assert_eq!(mqtt_in_force(&s, &start), start);
        set_mqtt(
            &mut s,
            &body(serde_json::json!({"interval_ms": 2000})),
            &start,
        )
        .unwrap();
        let kept = s.mqtt.clone().unwrap();
        // The credentials moved out of the URL into their fields; the rest kept.
        assert_eq!(
            (
                kept.url.as_str(),
                kept.username.as_str(),
                kept.password.as_str()
            ),
            ("mqtt://broker:1883", "cb", "old")
        );
        assert_eq!((kept.prefix.as_str(), kept.interval_ms), ("site1", 2000));
        assert_eq!(mqtt_in_force(&s, &MqttSettings::default()), kept);
        // An empty password keeps it; a new one replaces it; no user name, no password.
        set_mqtt(
            &mut s,
            &body(serde_json::json!({"password": "", "prefix": "p"})),
            &start,
        )
        .unwrap();
        assert_eq!(s.mqtt.as_ref().unwrap().password, "old");
        set_mqtt(
            &mut s,
            &body(serde_json::json!({"password": "new"})),
            &start,
        )
        .unwrap();
        assert_eq!(s.mqtt.as_ref().unwrap().password, "new");
        set_mqtt(&mut s, &body(serde_json::json!({"username": ""})), &start).unwrap();
        assert_eq!(s.mqtt.as_ref().unwrap().password, "");
        let shown = s.mqtt.as_ref().unwrap().shown();
        assert!(shown.get("password").is_none());
        assert_eq!(shown["password_set"], false);
    }

    #[test]
    fn bad_input_names_the_field_and_changes_nothing() {
        let start = MqttSettings::default();
        let mut s = state();
        for (input, said) in [
            (
                serde_json::json!({"url": "http://h"}),
                "mqtt.url: 'http://h' is not an address",
            ),
            (
                serde_json::json!({"url": "mqtt://u:p@h"}),
                "mqtt.url: give the user name",
            ),
            (
                serde_json::json!({"interval_ms": 5}),
                "mqtt.interval_ms: 5 is not 100 to 3600000",
            ),
            (
                serde_json::json!({"interval_ms": "fast"}),
                "mqtt.interval_ms: invalid type",
            ),
            (serde_json::json!({"prefix": "a/#"}), "mqtt.prefix"),
            (
                serde_json::json!({"password": "x"}),
                "mqtt.password: is given without a username",
            ),
            (
                serde_json::json!({"colour": "red"}),
                "mqtt: unknown field colour",
            ),
            (
                serde_json::json!({"ca_file": "/no/such/file"}),
                "mqtt.ca_file",
            ),
        ] {
            let err = set_mqtt(&mut s, &body(input.clone()), &start).unwrap_err();
            assert!(err.starts_with(said), "{input}: {err}");
            assert_eq!(s.mqtt, None, "{input} changed the state");
        }
    }
}
