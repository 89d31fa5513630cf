//! The HTTP API: `/cnf?cmd=…` translated into actor messages.

mod admin;
mod ajax;
pub mod auth;
mod caller;
mod dev_info;
mod error;
pub mod guard;
mod health;
mod history;
mod meta;
pub mod metrics;
mod modbus;
mod page;
mod params;
mod users;
mod wallboxes;
mod wiring;

use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::{Addr, Handler, Message};
use actix_web::{web, HttpRequest, HttpResponse};
use actors::devices::Device;
use actors::plant::Plant;
use actors::store::Store;
use actors::supervisor::Supervisor;
use actors::transport::DeviceError;
use serde_json::Value;
use tokio::sync::watch;

pub(crate) use admin::log_change;
pub use auth::{Auth, Verifier, VerifySlots};
pub use caller::Caller;
pub use dev_info::AnswerCache;
pub use error::ApiError;
pub use params::Params;

/// What the handlers reach: addresses of actors, a read-only view of the
/// running devices, and fixed settings. No mutable state lives here.
#[derive(Debug)]
pub struct AppState {
    pub plant: watch::Receiver<Arc<Plant>>,
    pub supervisor: Addr<Supervisor>,
    pub store: Addr<Store>,
    pub auth: Addr<Auth>,
    /// The pool that verifies passwords, and its slots.
    pub verifier: Addr<Verifier>,
    pub verify_slots: VerifySlots,
    /// Whether an admin password is set (kept up to date by `Auth`).
    pub password_set: Arc<std::sync::atomic::AtomicBool>,
    /// Read-only commands need no password.
    pub public_read: bool,
    /// How long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// This installation's serial number (`vsn.serialno`), from the state file.
    pub serialno: String,
    /// What the cycle and the devices count, and what the HTTP layer counts.
    pub metrics: Arc<actors::metrics::Metrics>,
    pub http: Arc<metrics::HttpMetrics>,
    /// Whether the cycle runs (read without asking the supervisor).
    pub health: Arc<actors::supervisor::CycleHealth>,
    /// The MQTT connection, for `params.mqtt`.
    pub mqtt: crate::mqtt::Status,
    /// settings.toml's `[mqtt]`, in force until `set_mqtt` changes it.
    pub mqtt_start: crate::mqtt::MqttSettings,
    /// Restarts the MQTT client with new settings.
    pub mqtt_restart: crate::mqtt::Restarter,
    /// The OCPP endpoint's charge points asking to connect.
    pub ocpp: Arc<crate::ocpp::OcppServer>,
    /// `get_dev_info`'s and `get_params`' devices, serialized once per snapshot.
    pub answers: dev_info::AnswerCache,
}

impl AppState {
    /// The devices running now.
    pub fn plant(&self) -> Arc<Plant> {
        self.plant.borrow().clone()
    }

    /// Whether an admin password is set.
    pub fn password_set(&self) -> bool {
        self.password_set.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cnf", web::get().to(cnf))
        .route("/cnf", web::post().to(cnf))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/healthz", web::get().to(health::healthz))
        .route("/healthz", web::head().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/readyz", web::head().to(health::readyz))
        .configure(page::routes)
        .configure(crate::ocpp::routes)
        .default_service(web::to(not_found));
}

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read-only status: open unless `http.public_read` is off.
    Read,
    /// Changes something: the admin password, once one is set.
    Admin,
    /// Checks its own credentials (a card, the password).
    Own,
    /// `Read` without the parameter `write`, `Admin` with it.
    ReadUnlessWrite,
}

/// How a command may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Reads: any method.
    Any,
    /// Changes that existing clients send by GET (Home Assistant, Node-RED):
    /// any method; a browser cannot send them across sites (see `guard`).
    LegacyGet,
    /// Every other change: POST with `Content-Type: application/json`, which
    /// a page on another site cannot send without the daemon's consent.
    PostJson,
    /// `PostJson` with this parameter (a change), `Any` without (a read).
    PostJsonWith(&'static str),
}

/// A `/cnf` command: its name, who may run it and how it may be sent.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    access: Access,
    method: Method,
}

const fn command(name: &'static str, access: Access, method: Method) -> Command {
    Command {
        name,
        access,
        method,
    }
}

/// Every command the dispatcher below knows, alphabetical: one row each
/// (a command missing here is unknown to the dispatcher too, see the test
/// below; `/metrics` labels requests by these names).
pub const COMMANDS: &[Command] = {
    use Access::{Admin, Own, Read, ReadUnlessWrite};
    use Method::{Any, LegacyGet, PostJson, PostJsonWith};
    &[
        command("accept_license", Admin, PostJson),
        command("change_admin_pwd", Own, PostJson),
        command("del_device", Admin, PostJson),
        command("enter_rfid", Own, LegacyGet),
        command("get_cm_vars", Read, Any),
        command("get_dev_info", Read, Any),
        command("get_dev_types", Read, Any),
        command("get_history", Read, Any),
        command("get_login", Own, Any),
        command("get_mqtt", Admin, Any),
        command("get_new_user_id", Admin, Any),
        command("get_params", Read, Any),
        command("get_ta_log", Admin, Any),
        command("get_user", Own, Any),
        command("get_users", Admin, Any),
        command("identify_phases", Admin, PostJson),
        command("login", Own, PostJson),
        command("logout", Own, PostJson),
        command("modbus", ReadUnlessWrite, PostJsonWith("write")),
        command("ocpp_adopt", Admin, PostJson),
        command("override_device", Own, LegacyGet),
        command("reset_device", Admin, PostJson),
        command("set_ajax_evse", Admin, LegacyGet),
        command("set_ajax_meter", Admin, LegacyGet),
        command("set_cm_vars", Admin, LegacyGet),
        command("set_diag_logging", Admin, PostJson),
        command("set_grid_dimming", Admin, PostJson),
        command("set_mqtt", Admin, PostJson),
        command("set_params", Admin, PostJson),
        command("set_user", Own, PostJson),
        command("soft_meter", Own, PostJsonWith("val")),
    ]
};

/// The command `cmd` names, if there is one.
pub fn known(cmd: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == cmd)
}

/// Who may run `cmd` with these parameters. An unknown command is answered
/// as such, not as a login problem.
fn access(cmd: &str, params: &Params) -> Access {
    match known(cmd).map(|c| c.access) {
        Some(Access::ReadUnlessWrite) if params.get("write").is_some() => Access::Admin,
        Some(Access::ReadUnlessWrite) => Access::Read,
        Some(access) => access,
        None => Access::Own,
    }
}

/// How `cmd` with these parameters may be sent.
fn method(cmd: &str, params: &Params) -> Method {
    match known(cmd).map(|c| c.method) {
        Some(Method::PostJsonWith(name)) if params.get(name).is_some() => Method::PostJson,
        Some(Method::PostJsonWith(_)) | None => Method::Any,
        Some(method) => method,
    }
}

/// Whether the request is a POST whose body is declared as JSON.
fn is_post_json(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `/cnf` over HTTP: the query, the method and the body, then the dispatcher.
async fn cnf(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string())?;
    let cmd = params.required("cmd")?;
    if method(cmd, &params) == Method::PostJson && !is_post_json(&req) {
        return Err(ApiError::NeedsPostJson(cmd.to_string()));
    }
    let body = read_body(payload, state.body_timeout).await?;
    Ok(dispatch(&state, &Caller::Http(&req), &params, body)
        .await?
        .into_response())
}

/// What a command answers.
#[derive(Debug)]
pub enum Answer {
    Json(Value),
    /// JSON already serialized.
    JsonText(String),
    /// JSON already serialized, in pieces shared with other answers (the
    /// big reads): sent one after the other, never joined.
    JsonParts(Vec<web::Bytes>),
    Csv(String),
}

impl Answer {
    fn into_response(self) -> HttpResponse {
        match self {
            Answer::Json(value) => HttpResponse::Ok().json(value),
            Answer::JsonText(text) => json_text(text),
            Answer::JsonParts(parts) => {
                let len: usize = parts.iter().map(web::Bytes::len).sum();
                let stream = futures_util::stream::iter(
                    parts.into_iter().map(Ok::<_, std::convert::Infallible>),
                );
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(actix_web::body::SizedStream::new(len as u64, stream))
            }
            Answer::Csv(csv) => HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .body(csv),
        }
    }

    /// The answer as the text of a message (MQTT's `api_res`).
    pub fn into_text(self) -> String {
        match self {
            Answer::Json(value) => value.to_string(),
            Answer::JsonText(text) | Answer::Csv(text) => text,
            Answer::JsonParts(parts) => String::from_utf8(parts.concat())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }
}

/// Whether a status read shows what only the admin may see; never over
/// MQTT, whose messages every subscriber reads.
async fn reads_as_admin(
    state: &AppState,
    caller: &Caller<'_>,
    credentials: &auth::Credentials,
) -> Result<bool, ApiError> {
    match caller {
        Caller::Http(_) => admin::reads_as_admin(state, credentials).await,
        Caller::Mqtt { .. } => Ok(false),
    }
}

/// The `/cnf` dispatcher, for HTTP and MQTT alike: who may run the
/// command, then one arm per command, kept alphabetical.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller<'_>,
    params: &Params,
    body: Option<Value>,
) -> Result<Answer, ApiError> {
    let req = caller;
    let cmd = params.required("cmd")?;
    caller.check_mqtt(cmd, params)?;
    let credentials = caller.credentials();
    match access(cmd, params) {
        Access::Read if state.public_read || matches!(caller, Caller::Mqtt { .. }) => {}
        Access::Own => {}
        // A change, or a read while reads need the password too.
        Access::Read | Access::Admin | Access::ReadUnlessWrite => {
            admin::require_admin(state, req, credentials.clone(), cmd).await?;
        }
    }
    let answer: Value = match cmd {
        "accept_license" => admin::accept_license(state, req, params).await?,
        "change_admin_pwd" => admin::change_admin_pwd(state, req, params, body.as_ref()).await?,
        "del_device" => admin::del_device(state, req, params).await?,
        // The big reads: their devices serialized once per snapshot.
        "get_dev_info" => {
            let filter = dev_info::Filter::parse(params)?;
            let admin = reads_as_admin(state, caller, &credentials).await?;
            return Ok(Answer::JsonParts(
                dev_info::get(state, admin, &filter).await?,
            ));
        }
        "get_cm_vars" => admin::get_cm_vars(state).await?,
        "get_dev_types" => dev_info::dev_types(),
        "get_history" => return Ok(Answer::JsonText(history::get(state, params).await?)),
        "enter_rfid" => wallboxes::enter_rfid(state, req, params).await?,
        "get_login" => admin::login_status(state, &credentials).await?,
        "get_mqtt" => admin::get_mqtt(state).await?,
        "get_new_user_id" => users::new_user_id()?,
        "get_params" => {
            let admin = reads_as_admin(state, caller, &credentials).await?;
            return Ok(Answer::JsonParts(dev_info::get_params(state, admin).await?));
        }
        "get_ta_log" => return Ok(Answer::Csv(wallboxes::charging_log(state).await?)),
        "get_user" => users::get_user(state, req, params).await?,
        "get_users" => users::get_users(state).await?,
        "identify_phases" => wiring::identify_phases(state, req, params, body.as_ref()).await?,
        "login" => admin::login(state, req, body.as_ref()).await?,
        "logout" => admin::logout(state, &credentials).await?,
        "modbus" => modbus::command(state, req, params, credentials).await?,
        "ocpp_adopt" => crate::ocpp::adopt(state, req, params).await?,
        "override_device" => wallboxes::override_device(state, req, params).await?,
        "reset_device" => admin::reset_device(state, req, params).await?,
        "set_ajax_evse" => ajax::set_evse(state, params, body.as_ref()).await?,
        "set_ajax_meter" => ajax::set_meter(state, params, body.as_ref()).await?,
        "set_cm_vars" => admin::set_cm_vars(state, params).await?,
        "set_diag_logging" => admin::set_diag_logging(req, params)?,
        "set_grid_dimming" => admin::set_grid_dimming(state, req, params).await?,
        "set_mqtt" => admin::set_mqtt(state, req, body).await?,
        "set_params" => admin::set_params(state, req, body).await?,
        "set_user" => users::set_user(state, req, params, body).await?,
        "soft_meter" => wallboxes::soft_meter(state, req, params).await?,
        other => return Err(ApiError::UnknownCommand(other.to_string())),
    };
    Ok(Answer::Json(answer))
}

fn json_text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// Reads a JSON body of at most `MAX_BODY` bytes within `timeout` (a
/// client that sends half a body and waits holds nothing for long); an
/// empty body is `None`.
async fn read_body(
    mut payload: web::Payload,
    timeout: std::time::Duration,
) -> Result<Option<Value>, ApiError> {
    use futures_util::StreamExt;
    let mut bytes = web::BytesMut::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadBody(e.to_string()))?;
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ApiError::BodyTooLarge(MAX_BODY / 1024));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))??;
    parse_body(&bytes)
}

/// A request body (an HTTP body, an MQTT payload): at most `MAX_BODY`
/// bytes of JSON; empty is `None`.
pub fn parse_body(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::BodyTooLarge(MAX_BODY / 1024));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::BadBody(format!("not JSON: {e}")))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(req.path().to_string()))
}

/// Sends a device message and folds a dead mailbox into the device error.
async fn ask<M, T>(addr: &Addr<Device>, msg: M) -> Result<T, DeviceError>
where
    M: Message<Result = Result<T, DeviceError>> + Send + 'static,
    T: Send + 'static,
    Device: Handler<M>,
    <Device as actix::Actor>::Context: ToEnvelope<Device, M>,
{
    addr.send(msg).await.unwrap_or(Err(DeviceError::Stopped))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::COMMANDS;

    #[test]
    fn the_command_list_names_every_arm_of_the_dispatcher() {
        let source = include_str!("mod.rs");
        let arms: BTreeSet<&str> = source
            .split("let answer: Value = match cmd {")
            .nth(1)
            .and_then(|rest| rest.split("other => return").next())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().strip_prefix('"')?.split_once("\" =>"))
            .map(|(name, _)| name)
            .collect();
        assert!(
            arms.contains("get_dev_info"),
            "the dispatcher was not found"
        );
        assert_eq!(arms, COMMANDS.iter().map(|c| c.name).collect());
    }
}
