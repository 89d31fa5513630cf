//! Wiring: starts the simulated plant (if enabled), the device actors and
//! the HTTP server, in that order, all in one place.

use std::io::Write;
use std::time::Duration;

use actix::Actor;
use actix_web::{web, App, HttpServer};
use actors::plant::{LocalPorts, Plant};
use actors::sim::plant::PlantSim;
use actors::supervisor::Supervisor;
use slog::{info, Logger};

use crate::api::{self, AppState};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the simulated plant on port {port}: {reason}")]
    Simulation { port: u16, reason: String },
    #[error("{0}")]
    Devices(String),
    #[error("cannot use storage directory {dir}: {reason}")]
    Storage { dir: String, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("HTTP server failed: {0}")]
    Server(String),
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(settings: Settings, log: Logger) -> Result<(), StartError> {
    std::fs::create_dir_all(&settings.storage.dir).map_err(|e| StartError::Storage {
        dir: settings.storage.dir.display().to_string(),
        reason: e.to_string(),
    })?;

    let base_port = settings.simulation.base_port;
    let local = if settings.simulation.enabled {
        let sim =
            PlantSim::start(&settings.simulation)
                .await
                .map_err(|e| StartError::Simulation {
                    port: base_port,
                    reason: e.to_string(),
                })?;
        for (name, addr) in &sim.addresses {
            info!(log, "simulated device"; "name" => name, "address" => %addr);
        }
        LocalPorts(sim.addresses.clone())
    } else {
        LocalPorts::from_base(base_port)
    };

    let timeout = Duration::from_millis(settings.modbus.timeout_ms);
    let plant = Plant::start(&settings.devices, &local, timeout, &log)
        .map_err(|e| StartError::Devices(e.to_string()))?;
    info!(log, "devices started"; "count" => plant.devices().len());

    let supervisor = Supervisor::new(settings.load.clone(), &plant, &log).start();
    let state = web::Data::new(AppState {
        plant,
        supervisor,
        site: settings.site.clone(),
    });
    let listen = settings.http.listen.clone();
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(api::routes))
        .workers(settings.http.workers)
        .bind(listen.as_str())
        .map_err(|e| StartError::Listen {
            addr: listen.clone(),
            reason: e.to_string(),
        })?;
    for addr in server.addrs() {
        // The one line on stdout: tests and scripts read the bound address here.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    server
        .run()
        .await
        .map_err(|e| StartError::Server(e.to_string()))?;
    info!(log, "stopped");
    Ok(())
}
