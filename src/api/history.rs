//! `cmd=get_history&from=&to=&dev_id=&step=`: what the site and the
//! wallboxes did, as compact JSON columns (see the README).

use std::time::{SystemTime, UNIX_EPOCH};

use actors::history::{Query, Series, COARSE_MS};
use actors::supervisor::GetHistory;
use serde::Serialize;

use super::{ApiError, AppState, Params};

/// The longest `step`, s.
const MAX_STEP_S: i64 = 86_400;

#[derive(Serialize)]
struct Answer<'a> {
    /// Unix seconds, as asked or by default.
    from: i64,
    to: i64,
    /// Seconds averaged into one point; 0: as kept.
    step: i64,
    #[serde(flatten)]
    series: &'a Series,
}

/// A parameter in whole unix seconds (or seconds for `step`).
fn seconds(params: &Params, name: &'static str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=i64::MAX / 1000 - 1).contains(s))
                .ok_or_else(|| ApiError::BadParam {
                    name,
                    reason: format!("'{text}' is not a whole number of seconds"),
                })
        })
        .transpose()
}

pub async fn get(state: &AppState, params: &Params) -> Result<String, ApiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let to = seconds(params, "to")?.unwrap_or(now);
    let from = seconds(params, "from")?.unwrap_or(to.saturating_sub(COARSE_MS / 1000));
    if from > to {
        return Err(ApiError::BadParam {
            name: "from",
            reason: format!("{from} is after to ({to})"),
        });
    }
    let step = seconds(params, "step")?.unwrap_or(0);
    if step > MAX_STEP_S {
        return Err(ApiError::BadParam {
            name: "step",
            reason: format!("{step} s is more than a day"),
        });
    }
    let query = Query {
        from_ms: from * 1000,
        to_ms: to * 1000 + 999,
        dev_id: params.get("dev_id").map(|d| d.trim().to_string()),
        step_ms: step * 1000,
    };
    let series = state.supervisor.send(GetHistory(query)).await??;
    let answer = Answer {
        from,
        to,
        step,
        series: &series,
    };
    serde_json::to_string(&answer).map_err(|e| ApiError::Unavailable(e.to_string()))
}
