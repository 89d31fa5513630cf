//! Users and their cards: `get_users`, `get_user`, `set_user`,
//! `get_new_user_id`. What they do at the wallboxes is in `wallboxes.rs`.

use actors::config::Change;
use actors::store::ReadState;
use actors::supervisor::Configure;
use serde_json::Value;

use super::admin::{configure, is_admin};
use super::auth;
use super::wallboxes::{pin_accepted, pin_attempt, rfid_param};
use super::{ApiError, AppState, Caller, Params};

async fn users(state: &AppState) -> Result<Vec<actors::config::User>, ApiError> {
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
        if !actors::config::owns_card(&user, &rfid) {
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
        Configure::Change(Change::SetUser { body, admin, proof }),
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
