//! Configuration and administration: `set_params`, `del_device`,
//! `reset_device`, `accept_license`, `change_admin_pwd`,
//! `set_diag_logging`, `set_cm_vars`, `get_cm_vars`, and the admin check
//! every change goes through.

use actors::config::{self, Change};
use actors::store::ReadState;
use actors::supervisor::Configure;
use serde_json::Value;

use super::auth::{
    self, Check, Credentials, EndSession, HashPassword, LoginStatus, NewSession, Peek, SetHash,
    Verdict, Verified, VerifyPassword,
};
use super::{ApiError, AppState, Caller, Params};
use crate::logging;

fn ok() -> Value {
    Value::from("ok")
}

/// The client's address (the lockouts are per address).
pub fn client(req: &Caller<'_>) -> std::net::IpAddr {
    req.client()
}

/// Lets the request act as admin, or says why not. A password attempt is
/// counted before it is verified, and verified on the pool of two threads.
pub async fn require_admin(
    state: &AppState,
    req: &Caller<'_>,
    credentials: Credentials,
    action: &str,
) -> Result<(), ApiError> {
    if let Some(standing) = req.mqtt_admin(action) {
        return standing;
    }
    let client = client(req);
    let password = match &credentials {
        Credentials::Password(p) => p.clone(),
        Credentials::None | Credentials::Token(_) => String::new(),
    };
    let verdict = state
        .auth
        .send(Check {
            client,
            credentials,
            action: action.to_string(),
        })
        .await??;
    let Verdict::Verify(hash) = verdict else {
        return Ok(());
    };
    let digest = auth::digest(&password);
    let slot = state.verify_slots.take().await?;
    // Argon2 is slow on purpose: never on an actor or HTTP worker thread.
    let ok = state
        .verifier
        .send(VerifyPassword {
            password,
            hash,
            slot,
        })
        .await?;
    state
        .auth
        .send(Verified {
            client,
            digest,
            ok,
            action: action.to_string(),
        })
        .await??;
    Ok(())
}

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

/// A text field of the JSON body, else the query parameter of that name.
fn field<'a>(body: Option<&'a Value>, params: &'a Params, name: &str) -> Option<&'a str> {
    body.and_then(|b| b.get(name))
        .and_then(Value::as_str)
        .or_else(|| params.get(name))
}

/// Logs a change at info: the client's address, the command and what
/// changed (never a secret: callers name a password, never show it).
pub fn log_change(req: &Caller<'_>, cmd: &str, changed: &[String]) {
    let client = req.label();
    if changed.is_empty() {
        slog_scope::debug!("configuration unchanged"; "cmd" => cmd, "client" => client);
    } else {
        // Keys in reverse: the text log prints them last to first.
        slog_scope::info!("configuration changed";
            "changes" => changed.join("; "), "cmd" => cmd, "client" => client);
    }
}

/// Applies a change through the supervisor and logs what it changed.
pub async fn configure(
    state: &AppState,
    req: &Caller<'_>,
    cmd: &str,
    change: Configure,
) -> Result<Value, ApiError> {
    let changed = state.supervisor.send(change).await??;
    log_change(req, cmd, &changed);
    Ok(ok())
}

/// `set_params`: a JSON object of parameters and/or `devices`.
pub async fn set_params(
    state: &AppState,
    req: &Caller<'_>,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    match body {
        Some(Value::Object(map)) => {
            let change = Configure::Change(Change::SetParams(map));
            configure(state, req, "set_params", change).await
        }
        Some(_) => Err(ApiError::BadBody(
            "expected a JSON object of parameters".into(),
        )),
        None => Err(ApiError::BadBody(
            "set_params needs a JSON body (POST)".into(),
        )),
    }
}

pub async fn del_device(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    let change = Configure::Change(Change::DeleteDevice(dev_id));
    configure(state, req, "del_device", change).await
}

pub async fn reset_device(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let dev_id = params.required("dev_id")?.to_string();
    crate::ocpp::reset(state, &dev_id).await;
    configure(state, req, "reset_device", Configure::ResetDevice(dev_id)).await
}

fn flag(params: &Params, name: &'static str) -> Result<Option<bool>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some("1") => Ok(Some(true)),
        Some("0") => Ok(Some(false)),
        Some(other) => Err(ApiError::BadParam {
            name,
            reason: format!("'{other}' is not 0 or 1"),
        }),
    }
}

/// `get_mqtt`: the MQTT settings in force (settings.toml's until
/// `set_mqtt` changed them), without the password: `password_set` says
/// whether one is set. `source` says where they come from.
pub async fn get_mqtt(state: &AppState) -> Result<Value, ApiError> {
    let stored = state.store.send(ReadState).await?;
    let mut shown = config::mqtt_in_force(&stored, &state.mqtt_start).shown();
    if let Value::Object(fields) = &mut shown {
        let source = if stored.mqtt.is_some() {
            "state"
        } else {
            "settings.toml"
        };
        fields.insert("source".into(), source.into());
    }
    Ok(shown)
}

/// `set_mqtt` with a JSON object of `[mqtt]` fields: those given change,
/// the others keep their value (an empty `password` keeps the password).
/// Checked whole, then saved in the state file, then the MQTT client is
/// restarted with them.
pub async fn set_mqtt(
    state: &AppState,
    req: &Caller<'_>,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let Some(Value::Object(body)) = body else {
        return Err(ApiError::BadBody(
            "set_mqtt needs a JSON object of [mqtt] fields (POST)".into(),
        ));
    };
    // What the supervisor would write, checked first for what only the
    // client knows (a TLS certificate file that does not load).
    let stored = state.store.send(ReadState).await?;
    let mut next = stored.clone();
    config::set_mqtt(&mut next, &body, &state.mqtt_start).map_err(ApiError::BadBody)?;
    let wanted = config::mqtt_in_force(&next, &state.mqtt_start);
    crate::mqtt::check_start(&wanted, &state.serialno).map_err(ApiError::BadBody)?;
    let change = Change::SetMqtt {
        body,
        start: Box::new(state.mqtt_start.clone()),
    };
    let changed = state.supervisor.send(Configure::Change(change)).await??;
    log_change(req, "set_mqtt", &changed);
    let stored = state.store.send(ReadState).await?;
    let in_force = config::mqtt_in_force(&stored, &state.mqtt_start);
    if !changed.is_empty() {
        state
            .mqtt_restart
            .restart(in_force)
            .await
            .map_err(ApiError::Unavailable)?;
    }
    Ok(ok())
}

/// `accept_license&acc=1&allow_usage_stats=0|1`.
pub async fn accept_license(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let accepted = flag(params, "acc")?.ok_or(ApiError::MissingParam("acc"))?;
    let stats = flag(params, "allow_usage_stats")?;
    let change = Change::License {
        accepted,
        allow_usage_stats: stats,
    };
    configure(state, req, "accept_license", Configure::Change(change)).await
}

/// `change_admin_pwd` with `{"old_pwd": …, "new_pwd": …}` (or the same as
/// query parameters): `old_pwd` must be the current password (wrong guesses
/// count towards the lockout); an empty `new_pwd` removes the password.
pub async fn change_admin_pwd(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let old = field(body, params, "old_pwd")
        .unwrap_or_default()
        .to_string();
    let new = field(body, params, "new_pwd")
        .ok_or(ApiError::MissingParam("new_pwd"))?
        .to_string();
    if new.chars().count() > 128 || new.chars().any(char::is_control) {
        return Err(ApiError::BadParam {
            name: "new_pwd",
            reason: "must be printable text of at most 128 characters".into(),
        });
    }
    require_admin(state, req, Credentials::Password(old), "change_admin_pwd").await?;
    let hash = if new.is_empty() {
        None
    } else {
        let slot = state.verify_slots.take().await?;
        Some(
            state
                .verifier
                .send(HashPassword {
                    password: new,
                    slot,
                })
                .await?
                .map_err(ApiError::Unavailable)?,
        )
    };
    let change = Configure::Change(Change::AdminHash(hash.clone()));
    // The log names the password and never shows it (`config::changes`).
    let changed = state.supervisor.send(change).await??;
    state.auth.send(SetHash(hash)).await?;
    log_change(req, "change_admin_pwd", &changed);
    Ok(ok())
}

/// `login` with `{"password": …}`: a session token for the admin page,
/// sent back as `Authorization: Bearer …`.
pub async fn login(
    state: &AppState,
    req: &Caller<'_>,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let password = body
        .and_then(|b| b.get("password"))
        .and_then(Value::as_str)
        .ok_or(ApiError::MissingParam("password"))?
        .to_string();
    let (password_set, _) = state.auth.send(LoginStatus(None)).await?;
    if !password_set {
        return Err(ApiError::BadParam {
            name: "password",
            reason: "no admin password is set yet: set one with change_admin_pwd".into(),
        });
    }
    require_admin(state, req, Credentials::Password(password), "login").await?;
    let token = state.auth.send(NewSession).await?;
    Ok(serde_json::json!({ "token": token, "expires_s": 12 * 3600 }))
}

/// `logout`: ends the session the request carries.
pub async fn logout(state: &AppState, credentials: &Credentials) -> Result<Value, ApiError> {
    if let Credentials::Token(token) = credentials {
        state.auth.send(EndSession(token.clone())).await?;
    }
    Ok(ok())
}

/// `get_login`: whether an admin password is set (the page asks for one
/// when not), and whether the request's session is alive.
pub async fn login_status(state: &AppState, credentials: &Credentials) -> Result<Value, ApiError> {
    let token = match credentials {
        Credentials::Token(t) => Some(t.clone()),
        Credentials::None | Credentials::Password(_) => None,
    };
    let (password_set, session) = state.auth.send(LoginStatus(token)).await?;
    Ok(serde_json::json!({ "password_set": password_set, "session": session }))
}

/// `set_diag_logging&enable=1|0`: every Modbus request and answer and every
/// allocation decision in the log, for five minutes at most.
pub fn set_diag_logging(req: &Caller<'_>, params: &Params) -> Result<Value, ApiError> {
    let enable = flag(params, "enable")?.ok_or(ApiError::MissingParam("enable"))?;
    logging::set_diagnostics(enable);
    let what = if enable {
        "diagnostic logging on for 5 minutes"
    } else {
        "diagnostic logging off"
    };
    log_change(req, "set_diag_logging", &[what.to_string()]);
    Ok(ok())
}

/// `set_grid_dimming&active=1|0`: the grid operator dims the site (§14a
/// EnWG) until told `active=0` (a control box's contact is better read as
/// the `grid_dimming_formula`, e.g. `E1.input1`).
pub async fn set_grid_dimming(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let active = flag(params, "active")?.ok_or(ApiError::MissingParam("active"))?;
    state
        .supervisor
        .send(actors::supervisor::SetGridDimming { active })
        .await?;
    let what = if active {
        "§14a grid dimming on"
    } else {
        "§14a grid dimming off"
    };
    log_change(req, "set_grid_dimming", &[what.to_string()]);
    Ok(ok())
}

/// `set_cm_vars&name=n&val=v`: sets the charging-manager variable `n`,
/// which formulas read as `CM.n` (the Home Assistant integration's
/// `set_variable` service); an empty `val` removes it.
pub async fn set_cm_vars(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let name = params.required("name")?.trim().to_string();
    let text = params.required("val")?.trim();
    let value = if text.is_empty() {
        None
    } else {
        Some(cm_value(text).ok_or_else(|| ApiError::BadParam {
            name: "val",
            reason: format!("'{text}' is not a number (an empty val removes the variable)"),
        })?)
    };
    let change = Change::SetCmVar { name, value };
    state.supervisor.send(Configure::Change(change)).await??;
    Ok(ok())
}

/// A variable's value: an integer stays one; a decimal is kept as it is.
fn cm_value(text: &str) -> Option<serde_json::Number> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n.into());
    }
    text.parse::<f64>()
        .ok()
        .filter(|x| x.abs() <= 1e15)
        .and_then(serde_json::Number::from_f64)
}

/// `get_cm_vars`: every charging-manager variable with its value.
pub async fn get_cm_vars(state: &AppState) -> Result<Value, ApiError> {
    let stored = state.store.send(ReadState).await?;
    Ok(Value::Object(
        stored
            .cm_vars
            .into_iter()
            .map(|(k, v)| (k, Value::Number(v)))
            .collect(),
    ))
}
