//! What a change of the configuration changed, in words for the log:
//! `max_total_current: 32000 → 25000`, `E3 added (evse_ajax)`,
//! `user anna: rfids`. Never a secret: the admin password is named, not
//! shown; of users (whose cards and PINs are credentials) only the fields
//! that changed are named. Pure.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{as_object, State};
use super::{DeviceSettings, MqttSettings};

/// Values longer than this are cut in the log.
const MAX_VALUE_CHARS: usize = 60;

/// Everything `after` changed against `before`, one entry per field.
pub fn changes(before: &State, after: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (key, old, new) in [
        ("title", &before.title, &after.title),
        ("desc", &before.desc, &after.desc),
    ] {
        if old != new {
            out.push(format!(
                "{key}: {} → {}",
                shown(&old.as_str().into()),
                shown(&new.as_str().into())
            ));
        }
    }
    for (key, old, new) in fields_changed(&before.params, &after.params) {
        let key = if key == "min_pause_time_s" {
            "min_pause_time"
        } else {
            key.as_str()
        };
        out.push(format!("{key}: {old} → {new}"));
    }
    // By dev_id, in one pass each (a site may have thousands of devices);
    // only a device that differs is compared field by field.
    let was: HashMap<&str, &Arc<DeviceSettings>> = before
        .devices
        .iter()
        .map(|d| (d.dev_id.as_str(), d))
        .collect();
    for d in &after.devices {
        match was.get(d.dev_id.as_str()) {
            None => out.push(format!("{} added ({})", d.dev_id, d.dev_type.key())),
            Some(&b) if b == d => {}
            Some(&b) => {
                for (key, old, new) in fields_changed::<DeviceSettings>(b, d) {
                    out.push(format!("{}.{key}: {old} → {new}", d.dev_id));
                }
            }
        }
    }
    let kept: HashSet<&str> = after.devices.iter().map(|d| d.dev_id.as_str()).collect();
    for b in &before.devices {
        if !kept.contains(b.dev_id.as_str()) {
            out.push(format!("{} deleted", b.dev_id));
        }
    }
    match (&before.admin_hash, &after.admin_hash) {
        (None, Some(_)) => out.push("admin password set".into()),
        (Some(_), None) => out.push("admin password removed".into()),
        (Some(old), Some(new)) if old != new => out.push("admin password changed".into()),
        _ => {}
    }
    if before.license != after.license {
        out.push(format!(
            "license {}, usage statistics {}",
            if after.license.accepted {
                "accepted"
            } else {
                "not accepted"
            },
            if after.license.allow_usage_stats {
                "allowed"
            } else {
                "not allowed"
            }
        ));
    }
    for u in &after.users {
        match before.users.iter().find(|b| b.id == u.id) {
            None => out.push(format!("user {} added", u.id)),
            Some(b) => {
                let names: Vec<String> = fields_changed(b, u)
                    .into_iter()
                    .map(|(k, _, _)| k)
                    .collect();
                if !names.is_empty() {
                    out.push(format!("user {}: {}", u.id, names.join(", ")));
                }
            }
        }
    }
    for b in &before.users {
        if !after.users.iter().any(|u| u.id == b.id) {
            out.push(format!("user {} deleted", b.id));
        }
    }
    out.extend(mqtt_changes(before.mqtt.as_ref(), after.mqtt.as_ref()));
    out
}

/// The MQTT settings changed; the password is named, never shown.
fn mqtt_changes(before: Option<&MqttSettings>, after: Option<&MqttSettings>) -> Vec<String> {
    let Some(after) = after else {
        return Vec::new();
    };
    let Some(before) = before else {
        return vec![format!(
            "mqtt set through the API (url {})",
            shown(&after.normalized().url.as_str().into())
        )];
    };
    let (old, new) = (before.normalized(), after.normalized());
    let mut out: Vec<String> = fields_changed(&old, &new)
        .into_iter()
        .filter(|(key, _, _)| key != "password")
        .map(|(key, old, new)| format!("mqtt.{key}: {old} → {new}"))
        .collect();
    if old.password != new.password {
        out.push("mqtt.password changed".into());
    }
    out
}

/// The fields of two values of one type that differ: name, old, new.
fn fields_changed<T: Serialize>(before: &T, after: &T) -> Vec<(String, String, String)> {
    let (old, new) = (as_object(before), as_object(after));
    let keys = old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)));
    keys.filter_map(|key| {
        let (a, b) = (
            old.get(key).unwrap_or(&Value::Null),
            new.get(key).unwrap_or(&Value::Null),
        );
        (a != b).then(|| (key.clone(), shown(a), shown(b)))
    })
    .collect()
}

/// A value as JSON text, cut to `MAX_VALUE_CHARS`.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file with one wallbox; what it leaves out takes its default.
    fn state() -> State {
        serde_json::from_value(serde_json::json!({
            "version": crate::config::STATE_VERSION, "title": "Home", "desc": "", "params": {},
            "devices": [{"dev_id": "E1", "dev_type": "evse_powerbrain", "address": "evse"}],
            "admin_hash": null, "license": {"accepted": false, "allow_usage_stats": false}
        }))
        .unwrap()
    }

    #[test]
    fn names_each_change_and_no_secret() {
        let before = state();
        let mut after = state();
        after.title = "Garage".into();
        after.params.max_total_current = 25_000.into();
        after.params.min_pause_time_s = 60;
        Arc::make_mut(&mut after.devices[0]).max_charging_cur = 10_000.into();
        after.devices.push(Arc::new(
            toml::from_str("dev_id = \"M4\"\ndev_type = \"meter_ajax\"\n").unwrap(),
        ));
        after.admin_hash = Some("$argon2id$secret-hash".into());
        after.users = serde_json::from_value(serde_json::json!([
            {"id": "anna", "name": "Anna", "rfids": [{"id": "1234"}]}
        ]))
        .unwrap();
        assert_eq!(
            changes(&before, &after),
            [
                "title: \"Home\" → \"Garage\"",
                "max_total_current: 32000 → 25000",
                "min_pause_time: 300 → 60",
                "E1.max_charging_cur: 16000 → 10000",
                "M4 added (meter_ajax)",
                "admin password set",
                "user anna added",
            ]
        );
        let mut later = after.clone();
        later.users[0].rfids[0].id = "9876".into();
        later.devices.remove(1);
        assert_eq!(changes(&after, &later), ["M4 deleted", "user anna: rfids"]);
        assert!(changes(&later, &later).is_empty());
        let all = format!("{:?}", changes(&before, &later));
        assert!(!all.contains("secret") && !all.contains("9876"), "{all}");
    }
}
