//! Wiring: loads the state, starts the simulated plant (if enabled), the
//! store, the device actors, the supervisor and the HTTP server, in that
//! order, all in one place.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, SyncArbiter};
use actix_web::{web, App, HttpServer};
use actors::devices::validate_devices;
use actors::plant::{LocalPorts, Plant};
use actors::sim::plant::PlantSim;
use actors::store::{self, License, State, Store, STATE_FILE, STATE_VERSION};
use actors::supervisor::{Flush, Supervisor};
use slog::{info, Logger};
use tokio::sync::watch;

use crate::api::{self, AppState, Auth};
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
    #[error("state: {0}")]
    State(String),
}

/// The state file's contents, or on the first start the settings' seed,
/// which is then written so that the file is the truth from now on.
fn load_or_seed(settings: &Settings, log: &Logger) -> Result<(PathBuf, State), StartError> {
    let path = settings.storage.dir.join(STATE_FILE);
    if let Some(state) = store::load(&path).map_err(|e| StartError::State(e.to_string()))? {
        validate_devices(&state.devices).map_err(|e| {
            StartError::State(format!(
                "{} holds an invalid device ({e}); it was left as it is",
                path.display()
            ))
        })?;
        state.params.validate().map_err(|(key, reason)| {
            StartError::State(format!("{}: params.{key}: {reason}", path.display()))
        })?;
        info!(log, "state loaded"; "file" => %path.display());
        // Saved before formulas were checked for names: it loads, and says so.
        for problem in store::formula_problems(&state.params, &state.devices, &state.users) {
            slog::warn!(log, "a formula names what cannot exist; it counts as 0 until fixed";
                "problem" => problem);
        }
        if state.params != settings.load || state.devices != settings.devices {
            slog::warn!(log, "[load], [site] and [[devices]] come from the state file, which differs from the settings; \
                change them through the API, or delete the state file to seed it from the settings again";
                "file" => %path.display());
        }
        return Ok((path, state));
    }
    let state = State {
        version: STATE_VERSION,
        title: settings.site.title.clone(),
        desc: settings.site.desc.clone(),
        params: settings.load.clone(),
        devices: settings.devices.clone(),
        admin_hash: None,
        license: License::default(),
        users: Vec::new(),
        open_transactions: Vec::new(),
        soft_meters: std::collections::BTreeMap::new(),
    };
    store::save_atomic(&path, &state).map_err(|e| StartError::State(e.to_string()))?;
    info!(log, "state seeded from the settings"; "file" => %path.display());
    Ok((path, state))
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

    // One daemon per storage directory: a second would overwrite the first's changes.
    let lock_path = settings.storage.dir.join("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StartError::Storage {
            dir: settings.storage.dir.display().to_string(),
            reason: e.to_string(),
        })?;
    lock.try_lock().map_err(|_| StartError::Storage {
        dir: settings.storage.dir.display().to_string(),
        reason: "another chargebrain is using it".into(),
    })?;
    let (path, state) = load_or_seed(&settings, &log)?;
    let timeout = Duration::from_millis(settings.modbus.timeout_ms);
    let plant = Plant::start(&state.devices, &local, timeout, &log)
        .map_err(|e| StartError::Devices(e.to_string()))?;
    info!(log, "devices started"; "count" => plant.devices().len());

    let auth = Auth::new(state.admin_hash.clone(), &log).start();
    let stored = state.clone();
    // fsync blocks: the store gets a thread of its own.
    let store = SyncArbiter::start(1, move || Store::new(path.clone(), stored.clone()));
    let (published, plant_view) = watch::channel(Arc::new(plant.clone()));
    let supervisor = Supervisor::new(state, plant, published, store.clone(), &log).start();
    let supervisor_at_stop = supervisor.clone();
    let state = web::Data::new(AppState {
        plant: plant_view,
        supervisor,
        store,
        auth,
        public_read: settings.http.public_read,
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
    // Soft meters and open transactions are saved at shutdown too.
    let _ = supervisor_at_stop.send(Flush).await;
    drop(lock);
    info!(log, "stopped");
    Ok(())
}
