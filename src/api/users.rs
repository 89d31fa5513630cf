//! Users, cards and what they do at the wallboxes: `get_users`, `get_user`,
//! `set_user`, `get_new_user_id`, `enter_rfid`, `override_device`,
//! `soft_meter`, `get_ta_log`.

use actix_web::HttpRequest;
use actors::store::{ReadLog, ReadState};
use actors::supervisor::{Configure, OverrideDevice, PresentRfid, SoftMeter, Who};
use serde_json::Value;

use super::auth::{self, Check, Verdict};
use super::config::require_admin;
use super::{ApiError, AppState, Params};

/// Whether the request may act as admin: no password is set, or it gives
/// the right one. A wrong password is an error (and counts), none is `false`.
pub async fn is_admin(state: &AppState, req: &HttpRequest, action: &str) -> Result<bool, ApiError> {
    let password = auth::basic_password(
        req.headers()
            .get("Authorization")
            .and_then(|h| h.to_str().ok()),
    );
    if password.is_some() {
        require_admin(state, req, password, action).await?;
        return Ok(true);
    }
    let client = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let no_password = state
        .auth
        .send(Check {
            client,
            password: None,
            action: action.to_string(),
        })
        .await?;
    Ok(matches!(no_password, Ok(Verdict::Allowed)))
}

async fn users(state: &AppState) -> Result<Vec<actors::users::User>, ApiError> {
    let stored = state.store.send(ReadState).await?;
    Ok(stored.users)
}

pub async fn get_users(state: &AppState) -> Result<Value, ApiError> {
    serde_json::to_value(users(state).await?).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// One user: the admin may read any; knowing a user's id is enough to
/// read that user (ids are random).
pub async fn get_user(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let id = params.required("id")?;
    let user = users(state)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ApiError::UnknownUser(id.to_string()))?;
    serde_json::to_value(user).map_err(|e| ApiError::Unavailable(e.to_string()))
}

pub async fn set_user(
    state: &AppState,
    req: &HttpRequest,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let Some(Value::Object(body)) = body else {
        return Err(ApiError::BadBody(
            "set_user needs a JSON user object (POST)".into(),
        ));
    };
    let admin = is_admin(state, req, "set_user").await?;
    state
        .supervisor
        .send(Configure::SetUser { body, admin })
        .await??;
    Ok(Value::from("ok"))
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
pub async fn enter_rfid(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let rfid = rfid_param(params)?;
    let dev_id = params.get("dev_id").map(str::to_string);
    let dev_id = state
        .supervisor
        .send(PresentRfid { dev_id, rfid })
        .await??;
    Ok(Value::from(dev_id))
}

/// `override_device&dev_id=d&flags=f&mamps=ma&rfid=id`.
pub async fn override_device(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let flags = params.get("flags").unwrap_or_default().to_string();
    let max_ma = params
        .get("mamps")
        .map(|m| {
            m.trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (0..=1_000_000).contains(m))
                .ok_or(ApiError::BadParam {
                    name: "mamps",
                    reason: format!("'{m}' is not a current from 0 to 1000000 mA"),
                })
        })
        .transpose()?;
    let who = match params.get("rfid") {
        Some(_) => Who::Card(rfid_param(params)?),
        None if is_admin(state, req, "override_device").await? => Who::Admin,
        None => return Err(ApiError::Auth(auth::AuthError::Required)),
    };
    state
        .supervisor
        .send(OverrideDevice {
            dev_id,
            flags,
            max_ma,
            who,
        })
        .await??;
    Ok(Value::from("ok"))
}

/// `soft_meter&dev_id=d[&val=v]`: answers the reading before the change;
/// setting it needs the admin password.
pub async fn soft_meter(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let set = params
        .get("val")
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or(ApiError::BadParam {
                    name: "val",
                    reason: format!("'{v}' is not a number of Wh"),
                })
        })
        .transpose()?;
    if set.is_some() && !is_admin(state, req, "soft_meter").await? {
        return Err(ApiError::Auth(auth::AuthError::Required));
    }
    let before = state.supervisor.send(SoftMeter { dev_id, set }).await??;
    Ok(Value::from(before))
}

/// The charging log as CSV text.
pub async fn charging_log(state: &AppState) -> Result<String, ApiError> {
    state.store.send(ReadLog).await?.map_err(ApiError::Store)
}
