//! The HTTP API: `/cnf?cmd=…` translated into actor messages.

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

/// The `/cnf` dispatcher: one arm per command, kept alphabetical.
async fn cnf(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string())?;
    let cmd = params.required("cmd")?;
    let answer: Value = match cmd {
        "get_dev_info" => dev_info::get(&state).await?,
        "modbus" => {
            let name = params.required("device")?;
            let device = state
                .plant
                .find(name)
                .ok_or_else(|| ApiError::UnknownDevice(name.to_string()))?;
            let addr = device.addr.as_ref().ok_or_else(|| ApiError::BadParam {
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
        other => return Err(ApiError::UnknownCommand(other.to_string())),
    };
    Ok(HttpResponse::Ok().json(answer))
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
