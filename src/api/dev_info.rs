//! `cmd=get_dev_info`: the site parameters and every device's state, from
//! the supervisor's last cycle and each device's communication status.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actors::devices::DeviceType;
use actors::plant::DeviceActor;
use actors::supervisor::{GetSnapshot, Snapshot};
use serde_json::{json, Map, Value};

use super::{ApiError, AppState};

/// cFos's vendor id, reported in `params.vsn`.
const VENDOR_ID: u32 = 0xcf05;

pub async fn get(state: &AppState) -> Result<Value, ApiError> {
    let snapshot = state
        .supervisor
        .send(GetSnapshot)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let plant = state.plant();
    let now = Instant::now();
    let mut devices = Vec::with_capacity(plant.devices().len());
    for (number, device) in plant.devices().iter().enumerate() {
        let s = &device.settings;
        // The snapshot is by the last cycle's device list, which a change
        // made since may have reordered: match by dev_id.
        let at = snapshot
            .devices
            .iter()
            .position(|(dev_id, _)| *dev_id == s.dev_id);
        let status = at.and_then(|i| snapshot.devices[i].1.clone());
        let mut entry = object(json!({
            "dev_type": s.dev_type.key(),
            "device_enabled": u8::from(s.device_enabled),
            "name": s.name,
            "address": s.address,
            "id": s.id,
            "dev_id": s.dev_id,
            "number": number + 1,
            "desc": s.dev_type.display_name(),
            "is_evse": s.dev_type.is_evse(),
            "used_phases": s.used_phases,
        }));
        let has_actor = !matches!(device.actor, DeviceActor::None);
        entry.extend(object(match (&status, has_actor) {
            (Some(status), _) => json!({
                "com_err": status.com.com_err,
                "com_err_secs": status.com.com_err_secs(now),
                "com_errors": status.com.com_errors,
                "last_error": status.com.last_error,
                "model": status.model,
            }),
            (None, true) => json!({
                "com_err": false, "com_err_secs": 0, "com_errors": 0,
                "last_error": "", "model": "failed to connect",
            }),
            (None, false) => json!({
                "com_err": false, "com_err_secs": 0, "com_errors": 0,
                "last_error": "", "model": "",
            }),
        }));
        if s.dev_type == DeviceType::EvseGroup {
            entry.extend(object(json!({
                "max_charging_cur": s.max_charging_cur,
                "group": s.group,
            })));
        } else if s.dev_type.is_evse() {
            entry.extend(object(json!({
                "label": s.label,
                "min_charging_cur": s.min_charging_cur,
                "max_charging_cur": s.max_charging_cur,
                "prio": s.prio,
                "phase_rotation": s.phase_rotation,
                "group": s.group,
                "needs_auth": false,
                "attach": "",
            })));
            if let Some(Some(view)) = at.and_then(|i| snapshot.evses.get(i)) {
                entry.extend(object(serde_json::to_value(view).unwrap_or_default()));
            }
        } else {
            entry.extend(object(json!({
                "is_va": false,
                "invert": s.invert,
                "role": s.role,
            })));
            let view = at
                .and_then(|i| snapshot.meters.get(i).cloned().flatten())
                .unwrap_or_default();
            entry.extend(object(serde_json::to_value(&view).unwrap_or_default()));
            entry.insert("power".into(), Value::from(view.power_w));
        }
        devices.push(Value::Object(entry));
    }
    Ok(json!({ "params": params(&snapshot), "devices": devices }))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn params(snapshot: &Snapshot) -> Value {
    let p = &snapshot.params;
    let site = &snapshot.site;
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The W-named keys of older firmware, at the nominal voltage over three phases.
    let watts = |ma: i64| ma * p.voltage * 3 / 1000;
    json!({
        "title": snapshot.title,
        "desc": snapshot.desc,
        "max_total_current": p.max_total_current,
        "reserve_current": p.reserve_current,
        "overdraft_cur": site.overdraft_cur,
        "max_total_evse_current": p.max_total_evse_current,
        "cons_evse_power": site.cons_evse_power,
        "avail_evse_power": site.avail_evse_power,
        "lb_enabled": p.lb_enabled,
        "disable_policy": p.disable_policy,
        "cycle_time": snapshot.cycle_time_ms,
        "max_imbalance": p.max_imbalance,
        "imbalance_add": p.imbalance_add,
        "min_pause_time": p.min_pause_time_s,
        "max_evses": 10_000,
        "shareware_mode": false,
        "version": env!("CARGO_PKG_VERSION"),
        "time": unix_secs,
        "vsn": { "vendorid": VENDOR_ID },
        "ocpp_gateway_license_cnt": 0,
        "ocpp_gateway_licenses_used": 0,
        "max_total_power": watts(p.max_total_current),
        "power_reserve": watts(p.reserve_current),
        "overdraft": watts(site.overdraft_cur),
        "max_total_evse_power": watts(p.max_total_evse_current),
        "consumed_evse_power": site.cons_evse_power,
        "remaining_evse_power": (site.avail_evse_power - site.cons_evse_power).max(0),
        "available_current": site.available_ma,
        "house_current": site.house_ma,
        "evse_current": site.evse_ma,
        "meter_stale": site.meter_stale,
    })
}

/// Every supported device type with its display name (`dev_meta`).
pub fn dev_types() -> Value {
    Value::Object(
        DeviceType::ALL
            .iter()
            .map(|t| (t.key().to_string(), Value::from(t.display_name())))
            .collect(),
    )
}

/// `get_dev_info` plus `dev_meta`.
pub async fn get_params(state: &AppState) -> Result<Value, ApiError> {
    let mut info = get(state).await?;
    if let Some(map) = info.as_object_mut() {
        map.insert("dev_meta".into(), dev_types());
    }
    Ok(info)
}
