//! The HTTP API: `/cnf?cmd=…` translated into actor messages.

mod ajax;
mod dev_info;
mod error;
mod modbus;
mod params;

use actix::dev::ToEnvelope;
use actix::{Addr, Handler, Message};
use actix_web::{web, HttpRequest, HttpResponse};
use actors::devices::Device;
use actors::plant::Plant;
use actors::supervisor::Supervisor;
use actors::transport::DeviceError;
use serde_json::Value;

pub use error::ApiError;
pub use params::Params;

use crate::settings::SiteSettings;

/// What the handlers reach: addresses of actors and fixed settings. No
/// mutable state lives here.
#[derive(Debug)]
pub struct AppState {
    pub plant: Plant,
    pub supervisor: Addr<Supervisor>,
    pub site: SiteSettings,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cnf", web::get().to(cnf))
        .route("/cnf", web::post().to(cnf))
        .default_service(web::to(not_found));
}

/// The largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// The `/cnf` dispatcher: one arm per command, kept alphabetical.
async fn cnf(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string())?;
    let cmd = params.required("cmd")?;
    let body = read_body(payload).await?;
    let answer: Value = match cmd {
        "get_dev_info" => dev_info::get(&state).await?,
        "modbus" => {
            let name = params.required("device")?;
            let device = state
                .plant
                .find(name)
                .ok_or_else(|| ApiError::UnknownDevice(name.to_string()))?;
            let addr = device.modbus().ok_or_else(|| ApiError::BadParam {
                name: "device",
                reason: format!(
                    "{} is an {} and has no registers",
                    device.settings.dev_id,
                    device.settings.dev_type.key()
                ),
            })?;
            let dev_type = device.settings.dev_type;
            let request = modbus::ModbusRequest::parse(&params, dev_type.register_map())?;
            modbus::run(&device.settings.dev_id, dev_type, addr, request).await?
        }
        "set_ajax_evse" => ajax::set_evse(&state, &params, body.as_ref()).await?,
        "set_ajax_meter" => ajax::set_meter(&state, &params, body.as_ref()).await?,
        other => return Err(ApiError::UnknownCommand(other.to_string())),
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// Reads a JSON body of at most `MAX_BODY` bytes; an empty body is `None`.
async fn read_body(mut payload: web::Payload) -> Result<Option<Value>, ApiError> {
    use futures_util::StreamExt;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadBody(e.to_string()))?;
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::BodyTooLarge(MAX_BODY / 1024));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
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
