//! The cFos API's own names beside the settings: keys `get_params` and
//! `get_dev_info` report that are not settings (a client posting back what
//! it read is not refused for them), keys of cFos firmware chargebrain does
//! not act on, and the older names of settings (`cycle_time`, W figures).
//! `set_params` consults them (`apply.rs`); a test of the API checks that
//! every key it reports is a setting or named here.

use serde_json::{Map, Value};

use super::{as_object, SiteParams};

/// Keys of `get_params`/`get_dev_info` that are reports, not settings: a
/// client that posts back what it read is not refused for them.
pub const READ_ONLY_PARAMS: &[&str] = &[
    "cons_evse_power",
    "avail_evse_power",
    "cycle_time_measured",
    "cycle_overruns",
    "max_evses",
    "shareware_mode",
    "version",
    "time",
    "vsn",
    "ocpp_gateway_license_cnt",
    "ocpp_gateway_licenses_used",
    "overdraft",
    "consumed_evse_power",
    "remaining_evse_power",
    "available_current",
    "house_current",
    "evse_current",
    "meter_stale",
    "grid_dimming",
    "dev_meta",
    "meta",
    "overdraft_cur",
    "auth_cnt",
    // The MQTT connection's state.
    "mqtt",
];

/// Keys that name a setting another way (older firmware's W figures,
/// `loadmgr_disabled`, `cycle_time`). `get_params` reports both; a client
/// may change either. The one that differs from the setting in force
/// decides; if both changed they must agree.
const ALIASES: &[(&str, &str, Alias)] = &[
    ("cycle_time", "cycle_time_ms", Alias::Same),
    ("loadmgr_disabled", "lb_enabled", Alias::Not),
    ("max_total_power", "max_total_current", Alias::Watts),
    ("power_reserve", "reserve_current", Alias::Watts),
    (
        "max_total_evse_power",
        "max_total_evse_current",
        Alias::Watts,
    ),
];

/// Whether `key` is another name of a setting (`ALIASES`).
pub(super) fn is_alias(key: &str) -> bool {
    ALIASES.iter().any(|(alias, _, _)| *alias == key)
}

#[derive(Debug, Clone, Copy)]
enum Alias {
    /// The same value.
    Same,
    /// The opposite flag.
    Not,
    /// W at the nominal voltage over three phases, for mA per phase.
    Watts,
}

/// Per-phase mA as W at `volts` over three phases (as `get_params` reports them).
fn watts(ma: i64, volts: i64) -> i64 {
    ma * volts * 3 / 1000
}

impl Alias {
    /// The setting's value for the alias's `value`, checked.
    fn setting(self, alias: &str, value: &Value, volts: i64) -> Result<Value, String> {
        match self {
            Alias::Same => Ok(value.clone()),
            Alias::Not => value
                .as_bool()
                .map(|b| Value::Bool(!b))
                .ok_or_else(|| format!("{alias}: expected true or false")),
            Alias::Watts => {
                let w = value
                    .as_f64()
                    .filter(|w| w.is_finite() && (0.0..=1e10).contains(w))
                    .ok_or_else(|| format!("{alias}: expected a number of W"))?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                let ma = (w * 1000.0 / (3.0 * volts as f64)).round() as i64;
                Ok(Value::from(ma))
            }
        }
    }

    /// Whether the alias's `value` says the same as the setting's `setting`.
    /// A formula's W figure is its value of the moment: it agrees.
    fn agrees(self, value: &Value, setting: &Value, volts: i64) -> bool {
        match self {
            Alias::Same => value == setting,
            Alias::Not => value.as_bool().map(|b| !b) == setting.as_bool(),
            #[allow(clippy::cast_precision_loss)]
            Alias::Watts => {
                setting.is_string()
                    || matches!((value.as_f64(), setting.as_i64()),
                        (Some(w), Some(ma)) if (watts(ma, volts) as f64 - w).abs() < 1.0)
            }
        }
    }
}

/// The settings the alias keys of `body` change, as (setting, value);
/// an alias changed beside its setting changed otherwise is an error
/// naming both.
pub(super) fn aliased(
    body: &Map<String, Value>,
    current: &SiteParams,
) -> Result<Vec<(String, Value)>, String> {
    let now = as_object(current);
    let volts_now = current.voltage;
    let volts = body
        .get("voltage")
        .and_then(Value::as_i64)
        .filter(|v| (100..=400).contains(v))
        .unwrap_or(volts_now);
    let mut out = Vec::new();
    for (alias, setting, kind) in ALIASES {
        let Some(value) = body.get(*alias) else {
            continue;
        };
        let in_force = now.get(*setting).unwrap_or(&Value::Null);
        // Unchanged from what get_params reported: the setting decides.
        if kind.agrees(value, in_force, volts_now) {
            continue;
        }
        let wanted = kind.setting(alias, value, volts)?;
        match body.get(*setting) {
            Some(given) if given != in_force && !kind.agrees(value, given, volts) => {
                return Err(format!(
                    "{alias} and {setting} both changed and disagree; give one of them"
                ));
            }
            Some(given) if given != in_force => {}
            _ => out.push(((*setting).to_string(), wanted)),
        }
    }
    Ok(out)
}

pub const READ_ONLY_DEVICE: &[&str] = &[
    "com_err",
    "com_err_secs",
    "com_errors",
    "last_error",
    "model",
    "is_evse",
    "state",
    "charging_enabled",
    "cur_charging_power",
    "total_energy",
    "current_l1",
    "current_l2",
    "current_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "phases",
    "paused",
    "pause_time",
    "pause_min_time",
    "last_set_charging_cur",
    "lb_current",
    "lb_reason",
    "lb_reason_code",
    "phases_in_force",
    "relay_phases",
    "phase_switches",
    "woken",
    "lb_reason_args",
    "needs_auth",
    "user",
    "user_name",
    "overrides",
    "ov_cur",
    "rule_id",
    "rule_current",
    // What the grid meter shows of the wiring (`supervisor/site/wiring.rs`).
    "phase_rotation_detected",
    "phase_rotation_confidence",
    "phase_rotation_state",
    "phase_rotation_used",
    "phase_rotation_warning",
    "phases_detected",
    "phase_probe",
    "is_va",
    "import",
    "export",
    "power_w",
    "power",
];

/// Device keys of cFos firmware this version does not act on. A device
/// posted back as firmware reports it is not refused for them: they are
/// ignored, and the daemon logs a warning naming them.
pub const IGNORED_DEVICE: &[&str] = &[
    "battery_save_threshold",
    "enable_snooze",
    "enable_wakeup",
    "fixed_rfid",
    "ocpp_gateway_client_id",
    "soft_meter",
    "users",
    // Reports of firmware 1.6 to 1.14 that chargebrain does not have.
    "status",
    "lreason",
    "evse",
    "ocpp",
    "is_mock",
    "max_power",
    "ucnt",
];

/// The ignored keys a `set_params` body carries, as `E1.fixed_rfid`, for
/// the warning.
pub fn ignored_keys(body: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(devices)) = body.get("devices") else {
        return Vec::new();
    };
    devices
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|d| {
            let dev_id = d.get("dev_id").and_then(Value::as_str).unwrap_or("?");
            IGNORED_DEVICE
                .iter()
                .filter(|k| d.contains_key(**k))
                .map(move |k| format!("{dev_id}.{k}"))
        })
        .collect()
}

/// The API's name for a parameter, where it differs from the setting's.
pub(super) fn param_key(api: &str) -> &str {
    match api {
        "min_pause_time" => "min_pause_time_s",
        other => other,
    }
}
