//! `meta` of `get_params`: what the keys and numbers of the answers mean,
//! for a client that shows them to people (the admin page): each device
//! type's kind and how it is reached, the meter roles and the wallbox
//! states in words, and every key a device can have (what `get_dev_info`'s
//! `fields=` takes). Beside `dev_meta`, which stays the cFos map of type
//! names that existing clients read.

use actors::alloc::budget::MeterRole;
use actors::drivers::{DeviceType, EvseState, Kind};
use serde_json::{json, Map, Value};

/// Every wallbox state, in the order of its number.
const EVSE_STATES: [EvseState; 6] = [
    EvseState::Waiting,
    EvseState::Present,
    EvseState::Charging,
    EvseState::Ventilation,
    EvseState::Error,
    EvseState::Offline,
];

/// A meter role in words.
fn role_name(role: MeterRole) -> &'static str {
    match role {
        MeterRole::Display => "Display only",
        MeterRole::Consumption => "Consumption",
        MeterRole::Production => "Production",
        MeterRole::Grid => "Grid",
        MeterRole::Vehicle => "EV consumption",
        MeterRole::StorageHome => "Storage (home)",
        MeterRole::StorageAll => "Storage (all)",
    }
}

/// A wallbox state in words.
fn state_name(state: EvseState) -> &'static str {
    match state {
        EvseState::Waiting => "No car",
        EvseState::Present => "Car waiting",
        EvseState::Charging => "Charging",
        EvseState::Ventilation => "Charging with ventilation",
        EvseState::Error => "Error: wallbox fault",
        EvseState::Offline => "Error: no answer",
    }
}

/// What a device of type `t` is: `wallbox`, `group` or `meter`.
fn kind(t: DeviceType) -> &'static str {
    match t.kind() {
        Kind::Group => "group",
        Kind::Wallbox => "wallbox",
        Kind::Meter => "meter",
    }
}

/// How a device of type `t` is reached: `modbus` (it needs an address),
/// `http_json` (asked over HTTP at its address), `http_input` (its values
/// are pushed), `ocpp` (its charge point connects; the address is the charge
/// point id) or `none` (a group).
fn link(t: DeviceType) -> &'static str {
    if t.is_http_input() {
        "http_input"
    } else if t.http_json().is_some() {
        "http_json"
    } else if t.is_ocpp() {
        "ocpp"
    } else if t.is_modbus() {
        "modbus"
    } else {
        "none"
    }
}

/// The `meta` object.
pub fn meta() -> Value {
    let dev_types: Map<String, Value> = DeviceType::all()
        .map(|t| {
            let mut info = json!({ "kind": kind(t), "link": link(t) });
            // A wallbox with a 1p/3p relay, or that can wake a car, says so.
            if t.can_switch_phases() {
                info["phase_switching"] = true.into();
            }
            if t.can_wake() {
                info["wake_up"] = true.into();
            }
            (t.key().into(), info)
        })
        .collect();
    let roles: Map<String, Value> = (0..)
        .map_while(MeterRole::from_code)
        .map(|r| (r.code().to_string(), role_name(r).into()))
        .collect();
    let states: Map<String, Value> = EVSE_STATES
        .iter()
        .map(|&s| (s.code().to_string(), state_name(s).into()))
        .collect();
    json!({
        "dev_types": dev_types,
        "roles": roles,
        "evse_states": states,
        "device_fields": super::dev_info::device_keys(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's unit tests (`node --test web/test/*.test.js`) read get_params's
    /// `dev_meta` and `meta` from this file; it must be what the daemon
    /// answers. `CHARGEBRAIN_UPDATE_SNAPSHOT=1` rewrites it.
    const PAGE_FIXTURE: &str = "web/test/daemon-meta.json";

    #[test]
    fn the_page_tests_read_what_the_daemon_answers() {
        let now = json!({ "dev_meta": super::super::dev_info::dev_types(), "meta": meta() });
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE_FIXTURE);
        if std::env::var_os("CHARGEBRAIN_UPDATE_SNAPSHOT").is_some() {
            let text = serde_json::to_string_pretty(&now).unwrap_or_default() + "\n";
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{PAGE_FIXTURE}: {e}"));
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{PAGE_FIXTURE}: {e}"));
        let fixture: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{PAGE_FIXTURE}: {e}"));
        assert_eq!(
            fixture, now,
            "{PAGE_FIXTURE} is not what get_params answers: rerun with CHARGEBRAIN_UPDATE_SNAPSHOT=1 and check the page's tests"
        );
    }

    #[test]
    fn every_type_role_and_state_is_named_by_its_api_key_or_number() {
        let m = meta();
        assert_eq!(
            m["dev_types"].as_object().map(Map::len),
            Some(DeviceType::all().count())
        );
        assert_eq!(
            m["dev_types"]["evse_powerbrain"],
            json!({"kind": "wallbox", "link": "modbus", "phase_switching": true, "wake_up": true})
        );
        assert_eq!(
            m["dev_types"]["evse_group"],
            json!({"kind": "group", "link": "none"})
        );
        assert_eq!(
            m["dev_types"]["evse_ajax"],
            json!({"kind": "wallbox", "link": "http_input"})
        );
        assert_eq!(
            m["dev_types"]["meter_ajax"],
            json!({"kind": "meter", "link": "http_input"})
        );
        assert_eq!(
            m["dev_types"]["meter_sdm630"],
            json!({"kind": "meter", "link": "modbus"})
        );
        let roles: Vec<&str> = (0..7)
            .map(|i| m["roles"][i.to_string()].as_str().unwrap_or(""))
            .collect();
        assert_eq!(roles[3], "Grid");
        assert!(
            roles.iter().all(|r| !r.is_empty()),
            "roles 0 to 6: {roles:?}"
        );
        assert_eq!(m["roles"].as_object().map(Map::len), Some(7));
        for (code, state) in (1..).zip(EVSE_STATES) {
            assert_eq!(state.code(), code, "in the order of the numbers");
        }
        assert_eq!(m["evse_states"]["3"], "Charging");
        assert_eq!(m["evse_states"]["6"], "Error: no answer");
    }
}
