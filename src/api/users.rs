//! Users, cards and what they do at the wallboxes: `get_users`, `get_user`,
//! `set_user`, `get_new_user_id`, `enter_rfid`, `override_device`,
//! `soft_meter`, `get_ta_log`.

use actors::store::{ReadLog, ReadState};
use actors::supervisor::{Configure, OverrideDevice, PresentRfid, SoftMeter, Who};
use serde_json::Value;

use super::auth::{self, Credentials, Peek, PinAccepted, PinAttempt};
use super::config::{client, configure, log_change, require_admin};
use super::{ApiError, AppState, Caller, Params};

/// Whether the request may act as admin: no password is set, or it gives
/// the right one. Wrong credentials are an error (and count), none is `false`.
pub async fn is_admin(state: &AppState, req: &Caller<'_>, action: &str) -> Result<bool, ApiError> {
    if let Some(standing) = req.mqtt_admin(action) {
        return standing.map(|()| true);
    }
    let credentials = req.credentials();
    if credentials.is_none() {
        return Ok(!state.password_set());
    }
    require_admin(state, req, credentials, action).await?;
    Ok(true)
}

/// Whether a status read shows what only the admin may see (user ids):
/// with no password set, to everybody; else to a live session or the
/// password that verified last. Reads stay open whatever else is sent, and
/// cost no password check.
pub async fn reads_as_admin(state: &AppState, credentials: &Credentials) -> Result<bool, ApiError> {
    if !state.password_set() {
        return Ok(true);
    }
    if credentials.is_none() {
        return Ok(false);
    }
    Ok(state.auth.send(Peek(credentials.clone())).await?)
}

/// Counts a card or PIN about to be tried, per client and per wallbox.
async fn pin_attempt(
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
fn pin_accepted(state: &AppState, req: &Caller<'_>, wallbox: Option<&str>) {
    state.auth.do_send(PinAccepted {
        client: client(req),
        wallbox: wallbox.map(str::to_string),
    });
}

async fn users(state: &AppState) -> Result<Vec<actors::users::User>, ApiError> {
    let stored = state.store.send(ReadState).await?;
    Ok(stored.users)
}

pub async fn get_users(state: &AppState) -> Result<Value, ApiError> {
    serde_json::to_value(users(state).await?).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// One user. The admin reads any; anybody else reads a user without the
/// cards and PINs, unless `rfid=` is one of them (it counts as a try).
pub async fn get_user(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let id = params.required("id")?;
    let user = users(state)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ApiError::UnknownUser(id.to_string()))?;
    let mut shown =
        serde_json::to_value(&user).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if is_admin(state, req, "get_user").await? {
        return Ok(shown);
    }
    if params.get("rfid").is_some() {
        let rfid = rfid_param(params)?;
        pin_attempt(state, req, None).await?;
        if !actors::users::owns_card(&user, &rfid) {
            return Err(not_accepted());
        }
        pin_accepted(state, req, None);
        return Ok(shown);
    }
    if let Some(map) = shown.as_object_mut() {
        map.remove("rfids");
    }
    Ok(shown)
}

/// The one refusal of a card or PIN given as proof: it says nothing about
/// whether the card belongs to someone.
fn not_accepted() -> ApiError {
    ApiError::BadParam {
        name: "rfid",
        reason: "card or PIN not accepted".into(),
    }
}

/// `set_user` (POST): the admin creates or changes any user; anybody else
/// changes a user's own rules and cards by giving one of that user's cards
/// or PINs as `rfid=` (it counts as a try).
pub async fn set_user(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let Some(Value::Object(body)) = body else {
        return Err(ApiError::BadBody(
            "set_user needs a JSON user object (POST)".into(),
        ));
    };
    let admin = is_admin(state, req, "set_user").await?;
    let proof = if admin {
        None
    } else {
        let rfid = rfid_param(params).map_err(|_| ApiError::Auth(auth::AuthError::Required))?;
        pin_attempt(state, req, None).await?;
        Some(rfid)
    };
    let proven = proof.is_some();
    let answer = configure(
        state,
        req,
        "set_user",
        Configure::SetUser { body, admin, proof },
    )
    .await?;
    if proven {
        pin_accepted(state, req, None);
    }
    Ok(answer)
}

/// A fresh user id from the operating system's cryptographic random source.
pub fn new_user_id() -> Result<Value, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::from(format!("U{hex}")))
}

fn rfid_param(params: &Params) -> Result<String, ApiError> {
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
            rfid,
        })
        .await??;
    pin_accepted(state, req, wallbox);
    Ok(Value::from(dev_id))
}

/// `override_device&dev_id=d&flags=f&mamps=ma&rfid=id`.
pub async fn override_device(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let flags = params.get("flags").unwrap_or_default().to_string();
    // The Home Assistant integration sends amperes × 1000 as a float: 16000.0.
    let max_ma = params.int("mamps", 0, 1_000_000)?;
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
        "{dev_id}: flags '{flags}'{} by {by}",
        max_ma.map_or_else(String::new, |ma| format!(", at most {ma} mA"))
    );
    state
        .supervisor
        .send(OverrideDevice {
            dev_id: dev_id.clone(),
            flags,
            max_ma,
            who,
        })
        .await??;
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
