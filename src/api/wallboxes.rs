//! What users do at the wallboxes: `enter_rfid`, `override_device`,
//! `soft_meter`, and the charging log they leave (`get_ta_log`).

use actors::phases::Switching;
use actors::store::ReadLog;
use actors::supervisor::{OverrideDevice, PresentRfid, SoftMeter, Who};
use serde_json::Value;

use super::admin::{client, is_admin, log_change};
use super::auth::{self, PinAccepted, PinAttempt};
use super::{ApiError, AppState, Caller, Params};

/// Counts a card or PIN about to be tried, per client and per wallbox.
pub(super) async fn pin_attempt(
    state: &AppState,
    req: &Caller<'_>,
    wallbox: Option<&str>,
) -> Result<(), ApiError> {
    state
        .auth
        .send(PinAttempt {
            client: client(req),
            wallbox: wallbox.map(str::to_string),
        })
        .await??;
    Ok(())
}

/// The card or PIN was right: its client's and wallbox's counts start again.
pub(super) fn pin_accepted(state: &AppState, req: &Caller<'_>, wallbox: Option<&str>) {
    state.auth.do_send(PinAccepted {
        client: client(req),
        wallbox: wallbox.map(str::to_string),
    });
}

pub(super) fn rfid_param(params: &Params) -> Result<String, ApiError> {
    let rfid = params.required("rfid")?.trim();
    if rfid.is_empty() || rfid.len() > 64 || !rfid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::BadParam {
            name: "rfid",
            reason: "must be 1 to 64 letters or digits".into(),
        });
    }
    Ok(rfid.to_string())
}

/// `enter_rfid&rfid=r[&dev_id=d]`: the card or PIN is the credential.
/// Each try counts, per client and per wallbox.
pub async fn enter_rfid(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let rfid = rfid_param(params)?;
    let wallbox = params.get("dev_id");
    pin_attempt(state, req, wallbox).await?;
    let dev_id = state
        .supervisor
        .send(PresentRfid {
            dev_id: wallbox.map(str::to_string),
            rfid: rfid.clone(),
        })
        .await??;
    pin_accepted(state, req, wallbox);
    crate::ocpp::card_entered(state, &dev_id, &rfid);
    Ok(Value::from(dev_id))
}

/// `override_device&dev_id=d&flags=f&mamps=ma&switch_phases=1|3&rfid=id`.
pub async fn override_device(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let flags = params.get("flags").unwrap_or_default().to_string();
    // The Home Assistant integration sends amperes × 1000 as a float: 16000.0.
    let max_ma = params.int("mamps", 0, 1_000_000)?;
    // cFos's `switch_phases`: 1 or 3 (also 1p, 3p, auto, off).
    let phases = match params.get("switch_phases") {
        Some(text) => Some(Switching::parse(text).ok_or_else(|| ApiError::BadParam {
            name: "switch_phases",
            reason: format!("'{text}' is not 1, 3, 1p, 3p, auto or off"),
        })?),
        None => None,
    };
    let who = match params.get("rfid") {
        Some(_) => {
            let rfid = rfid_param(params)?;
            pin_attempt(state, req, Some(&dev_id)).await?;
            Who::Card(rfid)
        }
        None if is_admin(state, req, "override_device").await? => Who::Admin,
        None => return Err(ApiError::Auth(auth::AuthError::Required)),
    };
    let card = matches!(who, Who::Card(_));
    // Who, in words: a card's id is a credential and is not logged.
    let by = if who == Who::Admin {
        "the admin"
    } else {
        "a card"
    };
    let what = format!(
        "{dev_id}: flags '{flags}'{}{} by {by}",
        max_ma.map_or_else(String::new, |ma| format!(", at most {ma} mA")),
        phases.map_or_else(String::new, |p| format!(", phases {}", p.key()))
    );
    state
        .supervisor
        .send(OverrideDevice {
            dev_id: dev_id.clone(),
            flags: flags.clone(),
            max_ma,
            phases,
            who,
        })
        .await??;
    crate::ocpp::overridden(state, &dev_id, &flags);
    if card {
        pin_accepted(state, req, Some(&dev_id));
    }
    log_change(req, "override_device", &[what]);
    Ok(Value::from("ok"))
}

/// `soft_meter&dev_id=d[&val=v]`: answers the reading before the change;
/// setting it needs the admin password.
pub async fn soft_meter(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let set = params.int("val", 0, 1_000_000_000_000)?;
    if set.is_some() && !is_admin(state, req, "soft_meter").await? {
        return Err(ApiError::Auth(auth::AuthError::Required));
    }
    let what = set.map(|wh| format!("{dev_id}: soft meter set to {wh} Wh"));
    let before = state.supervisor.send(SoftMeter { dev_id, set }).await??;
    if let Some(what) = what {
        log_change(req, "soft_meter", &[format!("{what} (was {before} Wh)")]);
    }
    Ok(Value::from(before))
}

/// The charging log as CSV text.
pub async fn charging_log(state: &AppState) -> Result<String, ApiError> {
    state.store.send(ReadLog).await?.map_err(ApiError::Store)
}
