//! `cmd=set_ajax_meter` and `cmd=set_ajax_evse`: values of "HTTP input"
//! devices pushed by Node-RED, ioBroker or curl, as a JSON body (POST) or
//! as query parameters (GET), e.g.
//! `&import_wh=12345&voltage=231,232,233&current=10001,10002,10003`.

use actix::Addr;
use actors::devices::{EvsePush, HttpInput, MeterPush, Push};
use actors::drivers::{evse_ajax, meter_ajax, DeviceType};
use actors::plant::DeviceHandle;
use actors::supervisor::Reevaluate;
use serde_json::{json, Value};

use super::{ApiError, AppState, Params};

/// The fields of one push, from the JSON body or else the query string.
struct Fields<'a> {
    body: Option<&'a serde_json::Map<String, Value>>,
    params: &'a Params,
}

/// One raw field value.
enum Raw<'a> {
    Json(&'a Value),
    Text(&'a str),
}

fn bad(name: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::BadParam {
        name,
        reason: reason.into(),
    }
}

impl Fields<'_> {
    fn raw(&self, name: &str) -> Option<Raw<'_>> {
        self.body
            .and_then(|b| b.get(name))
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::String(s) => Raw::Text(s.as_str()),
                other => Raw::Json(other),
            })
            .or_else(|| self.params.get(name).map(Raw::Text))
    }

    fn number(name: &'static str, raw: Raw<'_>) -> Result<f64, ApiError> {
        let n = match raw {
            Raw::Json(Value::Number(n)) => n.as_f64(),
            Raw::Text(s) => s.trim().parse::<f64>().ok(),
            Raw::Json(_) => None,
        };
        n.filter(|n| n.is_finite())
            .ok_or_else(|| bad(name, "is not a number"))
    }

    /// An integer (rounded) within `min..=max`.
    fn int(&self, name: &'static str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let n = Self::number(name, raw)?.round();
        #[allow(clippy::cast_precision_loss)]
        if n < min as f64 || n > max as f64 {
            return Err(bad(name, format!("{n} is not {min} to {max}")));
        }
        // In range, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(Some(n as i64))
    }

    /// Three integers: a JSON array or a comma list `v1,v2,v3`.
    fn triple(&self, name: &'static str, min: i64, max: i64) -> Result<Option<[i64; 3]>, ApiError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let parts: Vec<Raw<'_>> = match raw {
            Raw::Json(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Raw::Text(s.as_str()),
                    other => Raw::Json(other),
                })
                .collect(),
            Raw::Text(s) => s.split(',').map(Raw::Text).collect(),
            Raw::Json(_) => return Err(bad(name, "is not a list of three numbers")),
        };
        if parts.len() != 3 {
            return Err(bad(
                name,
                format!("needs three values (L1, L2, L3), got {}", parts.len()),
            ));
        }
        let mut out = [0; 3];
        for (slot, part) in out.iter_mut().zip(parts) {
            let n = Self::number(name, part)?.round();
            #[allow(clippy::cast_precision_loss)]
            if n < min as f64 || n > max as f64 {
                return Err(bad(name, format!("{n} is not {min} to {max}")));
            }
            #[allow(clippy::cast_possible_truncation)]
            {
                *slot = n as i64;
            }
        }
        Ok(Some(out))
    }

    fn text(&self, name: &'static str, max_len: usize) -> Result<Option<String>, ApiError> {
        let text = match self.raw(name) {
            None => return Ok(None),
            Some(Raw::Text(s)) => s.to_string(),
            Some(Raw::Json(Value::Number(n))) => n.to_string(),
            Some(Raw::Json(_)) => return Err(bad(name, "is not text")),
        };
        if text.chars().count() > max_len || text.chars().any(char::is_control) {
            return Err(bad(
                name,
                format!("must be printable text of at most {max_len} characters"),
            ));
        }
        Ok(Some(text))
    }

    fn flag(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Raw::Json(Value::Bool(b))) => Ok(Some(*b)),
            Some(Raw::Json(Value::Number(n))) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Some(n.as_i64() == Some(1)))
            }
            Some(Raw::Text(t)) if ["true", "1", "false", "0"].contains(&t) => {
                Ok(Some(t == "true" || t == "1"))
            }
            Some(_) => Err(bad(name, "is not true or false")),
        }
    }
}

/// Energy counters: up to 10^12 Wh; currents up to 1000 A; power 100 MW.
const MAX_WH: i64 = 1_000_000_000_000;
const MAX_MA: i64 = 1_000_000;
const MAX_W: i64 = 100_000_000;

fn meter_push(f: &Fields<'_>) -> Result<MeterPush, ApiError> {
    // The cFos schema says `import_vah`, its own example `import_wh`.
    let import_wh = match f.int("import_wh", 0, MAX_WH)? {
        Some(v) => Some(v),
        None => f.int("import_vah", 0, MAX_WH)?,
    };
    // The Home Assistant integration's `set_meter` sends the power as
    // `power_va` (W, or VA with `is_va`).
    let power_w = match f.int("power_w", -MAX_W, MAX_W)? {
        Some(v) => Some(v),
        None => f.int("power_va", -MAX_W, MAX_W)?,
    };
    Ok(MeterPush {
        model: f.text("model", 100)?,
        import_wh,
        export_wh: f.int("export_wh", 0, MAX_WH)?,
        voltage_v: f.triple("voltage", 0, 1000)?,
        current_ma: f.triple("current", -MAX_MA, MAX_MA)?,
        power_w,
        is_va: f.flag("is_va")?,
    })
}

fn evse_push(f: &Fields<'_>) -> Result<EvsePush, ApiError> {
    let state = f.int("state", 1, 5)?.and_then(|s| u8::try_from(s).ok());
    Ok(EvsePush {
        state,
        max_charging_current: f.int("max_charging_current", 0, MAX_MA)?,
        current_ma: f.triple("current", 0, MAX_MA)?,
        total_energy_wh: f.int("total_energy", 0, MAX_WH)?,
        model: f.text("model", 100)?,
        rfid: f.text("rfid", 64)?,
    })
}

/// The HTTP-input device `dev_id` of type `wanted`.
fn target(
    state: &AppState,
    params: &Params,
    wanted: DeviceType,
) -> Result<(DeviceHandle, Addr<HttpInput>), ApiError> {
    let dev_id = params.required("dev_id")?;
    let plant = state.plant();
    let device = plant
        .find(dev_id)
        .ok_or_else(|| ApiError::UnknownDevice(dev_id.to_string()))?;
    match device.http_input() {
        Some(addr) if device.settings.dev_type == wanted => Ok((device.clone(), addr.clone())),
        _ => Err(bad(
            "dev_id",
            format!(
                "{} is {}, not {} (HTTP input) device",
                device.settings.dev_id,
                device.settings.dev_type.with_article(),
                wanted.with_article()
            ),
        )),
    }
}

fn body_object(body: Option<&Value>) -> Result<Option<&serde_json::Map<String, Value>>, ApiError> {
    match body {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::BadBody("expected a JSON object".into())),
    }
}

async fn push(addr: &Addr<HttpInput>, values: Push) -> Result<(), ApiError> {
    addr.send(values)
        .await?
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

pub async fn set_meter(
    state: &AppState,
    params: &Params,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let (_, addr) = target(state, params, DeviceType::from(&meter_ajax::DRIVER))?;
    let fields = Fields {
        body: body_object(body)?,
        params,
    };
    let values = meter_push(&fields)?;
    push(&addr, Push::Meter(values)).await?;
    // A new house load acts at once, not at the next cycle.
    state.supervisor.send(Reevaluate).await?;
    Ok(Value::from("ok"))
}

pub async fn set_evse(
    state: &AppState,
    params: &Params,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let (device, addr) = target(state, params, DeviceType::from(&evse_ajax::DRIVER))?;
    let fields = Fields {
        body: body_object(body)?,
        params,
    };
    let values = evse_push(&fields)?;
    push(&addr, Push::Evse(values)).await?;
    let snapshot = state.supervisor.send(Reevaluate).await?;
    let index = state
        .plant()
        .devices()
        .iter()
        .position(|d| d.settings.dev_id == device.settings.dev_id);
    let view = index
        .and_then(|i| snapshot.evses.get(i).cloned().flatten())
        .unwrap_or_default();
    Ok(json!({
        "device_enabled": device.settings.device_enabled,
        "charging_enabled": view.lb_current > 0,
        "paused": view.paused,
        "charging_current": view.lb_current,
    }))
}
