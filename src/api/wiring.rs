//! `cmd=identify_phases` (POST, JSON, admin): "identify phases", the
//! probe that steps the charging wallboxes whose rotation is not yet
//! known, one at a time and only ever down. Its progress and result are
//! in `get_dev_info` (`phase_probe`, `phase_rotation_detected`).

use actors::supervisor::IdentifyPhases;
use serde_json::{json, Value};

use super::admin::log_change;
use super::{ApiError, AppState, Caller, Params};

/// Body `{}` for every wallbox, or `{"dev_id": "E2"}` for one (also as a
/// query parameter). Answers the plan: per wallbox what will happen, and
/// the most cycles it takes.
pub async fn identify_phases(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let from_body = match body {
        None => None,
        Some(Value::Object(map)) => {
            if let Some(key) = map.keys().find(|k| *k != "dev_id") {
                return Err(ApiError::BadBody(format!(
                    "unknown field {key:?}: only \"dev_id\" is taken"
                )));
            }
            match map.get("dev_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    return Err(ApiError::BadBody(format!(
                        "dev_id must be a text, not {other}"
                    )))
                }
            }
        }
        Some(other) => {
            return Err(ApiError::BadBody(format!(
                "the body must be an object, not {other}"
            )))
        }
    };
    let dev_id = from_body.or_else(|| params.get("dev_id").map(str::to_string));
    let plan = state
        .supervisor
        .send(IdentifyPhases {
            dev_id: dev_id.clone(),
        })
        .await??;
    log_change(
        req,
        "identify_phases",
        &[format!(
            "identify phases started for {}",
            dev_id.as_deref().unwrap_or("every wallbox")
        )],
    );
    let wallboxes: serde_json::Map<String, Value> = plan
        .wallboxes
        .into_iter()
        .map(|(id, what)| (id, Value::from(what)))
        .collect();
    Ok(json!({
        "wallboxes": wallboxes,
        "longest_cycles": plan.longest_cycles,
    }))
}
