//! `cmd=get_dev_info`: the site parameters and every device's state.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actors::devices::GetStatus;
use serde_json::{json, Value};

use super::AppState;

/// cFos's vendor id, reported in `params.vsn`.
const VENDOR_ID: u32 = 0xcf05;

pub async fn get(state: &AppState) -> Value {
    // Every device is asked at once; the answers are then collected in order.
    let pending: Vec<_> = state
        .plant
        .devices()
        .iter()
        .map(|d| (d, d.addr.send(GetStatus)))
        .collect();
    let now = Instant::now();
    let mut devices = Vec::with_capacity(pending.len());
    for (number, (device, status)) in pending.into_iter().enumerate() {
        let s = &device.settings;
        let mut entry = json!({
            "dev_type": s.dev_type.key(),
            "device_enabled": u8::from(s.device_enabled),
            "name": s.name,
            "address": s.address,
            "id": s.id,
            "dev_id": s.dev_id,
            "number": number + 1,
            "is_evse": s.dev_type.is_evse(),
        });
        let status_fields = match status.await {
            Ok(status) => json!({
                "com_err": status.com.com_err,
                "com_err_secs": status.com.com_err_secs(now),
                "com_errors": status.com.com_errors,
                "last_error": status.com.last_error,
                "model": status.model,
            }),
            Err(e) => json!({
                "com_err": true,
                "com_err_secs": 0,
                "com_errors": 0,
                "last_error": e.to_string(),
                "model": "failed to connect",
            }),
        };
        if let (Some(entry), Value::Object(fields)) = (entry.as_object_mut(), status_fields) {
            entry.extend(fields);
        }
        devices.push(entry);
    }
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "params": {
            "title": state.site.title,
            "desc": state.site.desc,
            "version": env!("CARGO_PKG_VERSION"),
            "time": unix_secs,
            "vsn": { "vendorid": VENDOR_ID },
        },
        "devices": devices,
    })
}
