//! Wiring: loads the state, starts the simulated plant (if enabled), the
//! store, the device actors, the supervisor and the HTTP server, in that
//! order, all in one place.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, SyncArbiter};
use actix_web::{web, App, HttpServer};
use actors::config::State;
use actors::history::History;
use actors::plant::{LocalPorts, Plant};
use actors::sim::closed_loop::PlantSim;
use actors::store::{self, Store, STATE_FILE};
use actors::supervisor::{Flush, Snapshot, Supervisor, TakeHistory};
use slog::{info, Logger};
use tokio::sync::watch;

use crate::api::guard::{Connections, Guard};
use crate::api::metrics::HttpMetrics;
use crate::api::{self, AppState, Auth, Verifier, VerifySlots};
use crate::check;
use crate::mqtt;
use crate::service::{self, Notifier};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the simulated plant: {0}")]
    Simulation(String),
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
    #[error("MQTT: {0}")]
    Mqtt(String),
}

impl StartError {
    /// 2: the daemon could not start as configured (a port in use, a bad
    /// state file, ...); 1: it failed while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Server(_) => 1,
            _ => 2,
        }
    }
}

/// An error binding a port, with what to do about the common case.
fn bind_error(e: &std::io::Error, setting: &str) -> String {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "{e}; another program (or another chargebrain) uses it: stop it, or change {setting}"
        )
    } else {
        e.to_string()
    }
}

/// The state file's contents, or on the first start the settings' seed,
/// which is then written so that the file is the truth from now on.
fn load_or_seed(settings: &Settings, log: &Logger) -> Result<(PathBuf, State), StartError> {
    let path = settings.storage.dir.join(STATE_FILE);
    if let Some(mut state) = store::load(&path).map_err(|e| StartError::State(e.to_string()))? {
        // Checked like the API's input: what was written by hand, or by an
        // older or broken version, does not get in by the back door.
        let found = check::state_problems(&state, settings);
        if !found.errors.is_empty() {
            return Err(StartError::State(format!(
                "{}: {}; the daemon did not start and the file was left as it is",
                path.display(),
                found.errors.join("; ")
            )));
        }
        info!(log, "state loaded"; "file" => %path.display());
        for warning in found.warnings {
            slog::warn!(log, "{warning}"; "file" => %path.display());
        }
        // A state file from before serial numbers gets one now, once.
        if state.serialno.is_empty() {
            state.serialno = new_serial()?;
            store::save_atomic(&path, &state).map_err(|e| StartError::State(e.to_string()))?;
            info!(log, "serial number made"; "serialno" => &state.serialno);
        }
        return Ok((path, state));
    }
    let state = State {
        desc: settings.site.desc.clone(),
        params: settings.load.clone(),
        devices: settings.devices.clone(),
        serialno: new_serial()?,
        ..State::new(settings.site.title.clone())
    };
    store::save_atomic(&path, &state).map_err(|e| StartError::State(e.to_string()))?;
    info!(log, "state seeded from the settings"; "file" => %path.display());
    Ok((path, state))
}

/// Raises the soft open-file limit to the hard one (each connection and
/// each device takes a descriptor); answers the soft limit in force.
fn raise_open_file_limit(log: &Logger) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit: a million is plenty.
    let wanted = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|c| c < wanted) {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            slog::warn!(log, "cannot raise the open-file limit"; "error" => %e);
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(1 << 20)
}

/// A fresh serial number for `vsn.serialno`, e.g. `CB-3F2A-9C01-77E4`,
/// from the operating system's random source.
fn new_serial() -> Result<String, StartError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| StartError::State(format!("serial number: {e}")))?;
    let hex: Vec<String> = bytes
        .chunks(2)
        .map(|pair| pair.iter().map(|b| format!("{b:02X}")).collect())
        .collect();
    Ok(format!("CB-{}", hex.join("-")))
}

/// The history's file, next to the state file.
const HISTORY_FILE: &str = "history.json";

/// The history saved at the last shutdown. A file that cannot be used is
/// no reason not to start: the charts begin afresh, and the file is
/// replaced at the next shutdown.
fn load_history(path: &std::path::Path, log: &Logger) -> History {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return History::new(),
        Err(e) => {
            slog::warn!(log, "cannot read the history; the charts start afresh";
                "file" => %path.display(), "error" => %e);
            return History::new();
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let loaded = serde_json::from_slice(&text)
        .map_err(|e| e.to_string())
        .and_then(|saved| History::from_saved(saved, now));
    match loaded {
        Ok(history) => {
            info!(log, "history loaded"; "file" => %path.display());
            history
        }
        Err(e) => {
            slog::warn!(log, "the history file cannot be used; the charts start afresh";
                "file" => %path.display(), "error" => e);
            History::new()
        }
    }
}

/// Writes the history (at shutdown), atomically.
fn save_history(path: &std::path::Path, history: &History, log: &Logger) {
    let written = serde_json::to_vec(history)
        .map_err(|e| e.to_string())
        .and_then(|text| store::write_atomic(path, &text).map_err(|e| e.to_string()));
    if let Err(e) = written {
        slog::warn!(log, "could not save the history"; "file" => %path.display(), "error" => e);
    }
}

/// With the simulated plant, what the HTTP-input wallboxes draw reaches its
/// grid meter: the plant simulates only its own cars, and a wallbox it did
/// not see would make the house load look lower by that wallbox's current.
fn feed_http_wallboxes(
    sim: PlantSim,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    plant: watch::Receiver<Arc<Plant>>,
) {
    // At once after each decision: a push is decided on at once too, and
    // the grid meter must not lag behind what the wallbox reports.
    actix::spawn(async move {
        while snapshots.changed().await.is_ok() {
            let snapshot = snapshots.borrow_and_update().clone();
            let plant = plant.borrow().clone();
            let mut load = [0; 3];
            for ((dev_id, _), view) in snapshot.devices.iter().zip(&snapshot.evses) {
                let (Some(device), Some(view)) = (plant.find(dev_id), view) else {
                    continue;
                };
                let dev_type = device.settings.dev_type;
                if !(dev_type.is_http_input() && dev_type.is_wallbox()) {
                    continue;
                }
                // The plant's HTTP wallboxes are wired as configured (0° on auto).
                let rotation = device.settings.phase_rotation.fixed().unwrap_or_default();
                let draw = rotation.to_building_values([
                    view.current_l1,
                    view.current_l2,
                    view.current_l3,
                ]);
                for (total, ma) in load.iter_mut().zip(draw) {
                    *total += ma;
                }
            }
            sim.set_other_load(load);
        }
    });
}

/// The test hook of the watchdog tests: the cycle hangs after this many
/// cycles (`CHARGEBRAIN_DEBUG_STALL_CYCLE_AFTER`). Debug builds only: a
/// release build never reads it.
fn stall_after() -> Option<u64> {
    if cfg!(debug_assertions) {
        std::env::var("CHARGEBRAIN_DEBUG_STALL_CYCLE_AFTER")
            .ok()?
            .trim()
            .parse()
            .ok()
    } else {
        None
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(settings: Settings, log: Logger) -> Result<(), StartError> {
    // Read first: a broken NOTIFY_SOCKET is said at once, not after the start.
    let notifier = Notifier::from_env()
        .unwrap_or_else(|e| {
            slog::warn!(log, "NOTIFY_SOCKET cannot be used; systemd will not hear from the daemon"; "error" => %e);
            None
        })
        .map(Arc::new);
    std::fs::create_dir_all(&settings.storage.dir).map_err(|e| StartError::Storage {
        dir: settings.storage.dir.display().to_string(),
        reason: e.to_string(),
    })?;
    // The HTTP port first: a port in use stops the start before any actor
    // runs (actors dropped unstarted with the runtime would panic).
    let listeners = bind_listeners(&settings)?;

    let sim = start_simulation(&settings, &log).await?;
    let local = sim.as_ref().map_or_else(
        || LocalPorts::from_base(settings.simulation.base_port),
        |sim| LocalPorts(sim.addresses.clone()),
    );

    let lock = lock_storage(&settings.storage.dir)?;
    let (path, state) = load_or_seed(&settings, &log)?;
    let timeout = Duration::from_millis(settings.modbus.timeout_ms);
    let plant = Plant::start(&state.devices, &local, timeout, &log)
        .map_err(|e| StartError::Devices(e.to_string()))?;
    warn_unconfigured(&plant, &state, &log);

    let password_set = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let auth = Auth::new(state.admin_hash.clone(), password_set.clone(), &log).start();
    // Argon2 runs on threads of its own, two at most at once.
    let verifier = SyncArbiter::start(api::auth::VERIFY_SLOTS, Verifier::default);
    let serialno = state.serialno.clone();
    // settings.toml's [mqtt] until the page changed it, then the state file's.
    let mqtt_settings = actors::config::mqtt_in_force(&state, &settings.mqtt);
    let stored = state.clone();
    // fsync blocks: the store gets a thread of its own.
    let store = SyncArbiter::start(1, move || Store::new(path.clone(), stored.clone()));
    let metrics = plant.metrics().clone();
    let (published, plant_view) = watch::channel(Arc::new(plant.clone()));
    let history_path = settings.storage.dir.join(HISTORY_FILE);
    let mut supervisor = Supervisor::new(state, plant, published, store.clone(), &log)
        .with_history(load_history(&history_path, &log));
    if let Some(sim) = &sim {
        feed_http_wallboxes(sim.clone(), supervisor.snapshots(), plant_view.clone());
    }
    if let Some(cycles) = stall_after() {
        slog::warn!(log, "test hook: the cycle will hang"; "after_cycles" => cycles);
        supervisor = supervisor.stall_after(cycles);
    }
    let health = supervisor.health();
    let mqtt_snapshots = supervisor.snapshots();
    let mqtt_closed = supervisor.closed_transactions();
    let supervisor = supervisor.start();
    let supervisor_at_stop = supervisor.clone();
    let mqtt_status = mqtt::Status::new(&mqtt_settings);
    let (mqtt_restart, mqtt_requests) = mqtt::restarter();
    let ocpp = Arc::new(crate::ocpp::OcppServer::new(&log));
    let state = web::Data::new(AppState {
        plant: plant_view,
        supervisor,
        store,
        auth,
        verifier,
        verify_slots: VerifySlots::new(),
        password_set,
        public_read: settings.http.public_read,
        body_timeout: Duration::from_secs(settings.http.body_timeout_s),
        serialno,
        metrics,
        http: Arc::new(HttpMetrics::default()),
        health: health.clone(),
        mqtt: mqtt_status.clone(),
        mqtt_start: settings.mqtt.clone(),
        mqtt_restart,
        ocpp: ocpp.clone(),
        answers: api::AnswerCache::default(),
    });
    let mqtt_inputs = mqtt::Inputs {
        app: state.clone(),
        snapshots: mqtt_snapshots,
        plant: state.plant.clone(),
        closed: mqtt_closed,
    };
    let first = mqtt::start(
        &mqtt_settings,
        &state.serialno,
        mqtt_status.clone(),
        mqtt_inputs.again(),
        &log,
    )
    .map_err(StartError::Mqtt)?;
    let mqtt = mqtt::Manager::start(
        first,
        mqtt_requests,
        state.serialno.clone(),
        mqtt_status,
        mqtt_inputs,
        log.clone(),
    );
    let server = serve(&settings, state, listeners, ocpp, sim.as_ref(), &log)?;
    // The socket listens from here on, and the devices are started.
    if let Some(notifier) = &notifier {
        service::ready(notifier.clone(), health, &log);
    }
    server
        .await
        .map_err(|e| StartError::Server(e.to_string()))?;
    service::stopping(notifier.as_deref());
    mqtt.stop().await;
    // Soft meters and open transactions are saved at shutdown too.
    let _ = supervisor_at_stop.send(Flush).await;
    if let Ok(history) = supervisor_at_stop.send(TakeHistory).await {
        save_history(&history_path, &history, &log);
    }
    drop(lock);
    info!(log, "stopped");
    Ok(())
}

/// The built-in simulated plant, when it is enabled; its devices' addresses
/// are logged and said on stdout.
async fn start_simulation(
    settings: &Settings,
    log: &Logger,
) -> Result<Option<PlantSim>, StartError> {
    if !settings.simulation.enabled {
        return Ok(None);
    }
    let sim = PlantSim::start(&settings.simulation)
        .await
        .map_err(|e| StartError::Simulation(bind_error(&e, "simulation.base_port")))?;
    for (name, addr) in &sim.addresses {
        info!(log, "simulated device"; "name" => name, "address" => %addr);
        // On stdout too, before the listening line: with `base_port = 0`
        // this is how a test or script learns the ports the system chose.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "simulated {name} on {addr}");
        let _ = out.flush();
    }
    Ok(Some(sim))
}

/// The HTTP port, and the OCPP endpoint's own address if one is set
/// (charge points use `/ocpp/<id>` there, as on the HTTP port).
fn bind_listeners(
    settings: &Settings,
) -> Result<(std::net::TcpListener, Option<std::net::TcpListener>), StartError> {
    let http = bind(&settings.http.listen, "http.listen")?;
    let ocpp = match settings.ocpp.listen.trim() {
        "" => None,
        addr => Some(bind(addr, "ocpp.listen")?),
    };
    Ok((http, ocpp))
}

/// The HTTP server, listening, stopped by SIGTERM or SIGINT; the simulated
/// plant's OCPP charge points are started once it listens.
fn serve(
    settings: &Settings,
    state: web::Data<AppState>,
    (listener, ocpp_listener): (std::net::TcpListener, Option<std::net::TcpListener>),
    ocpp: Arc<crate::ocpp::OcppServer>,
    sim: Option<&PlantSim>,
    log: &Logger,
) -> Result<actix_web::dev::Server, StartError> {
    let http_addr = listener.local_addr().ok();
    let signals = stop_signals()?;
    let server = http_server(settings, state, listener, ocpp_listener, log)?;
    actix::spawn(stop_on_signal(signals, server.handle(), ocpp, log.clone()));
    if let (Some(sim), Some(addr)) = (sim, http_addr) {
        crate::ocpp::simulated::start(sim, &settings.simulation.ocpp_ids(), addr, log);
    }
    Ok(server)
}

/// A listening socket on `addr`, the setting named in the error.
fn bind(addr: &str, setting: &str) -> Result<std::net::TcpListener, StartError> {
    std::net::TcpListener::bind(addr).map_err(|e| StartError::Listen {
        addr: addr.to_string(),
        reason: bind_error(&e, setting),
    })
}

/// SIGTERM and SIGINT, taken from their default (ending the process at
/// once) before the daemon says it listens.
type StopSignals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

fn stop_signals() -> Result<StopSignals, StartError> {
    use tokio::signal::unix::{signal, SignalKind};
    let taken = |kind| {
        signal(kind).map_err(|e| StartError::Server(format!("signals cannot be received: {e}")))
    };
    Ok((
        taken(SignalKind::terminate())?,
        taken(SignalKind::interrupt())?,
    ))
}

/// Stops the server on SIGTERM (gracefully: requests under way finish) or
/// SIGINT (at once), as actix-web would; the charge points' WebSockets are
/// closed first, or a graceful stop would wait for them.
async fn stop_on_signal(
    (mut term, mut int): StopSignals,
    server: actix_web::dev::ServerHandle,
    ocpp: Arc<crate::ocpp::OcppServer>,
    log: Logger,
) {
    let graceful = tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => false,
    };
    info!(log, "stopping"; "graceful" => graceful);
    ocpp.close_all();
    server.stop(graceful).await;
}

/// One daemon per storage directory: a second would overwrite the first's
/// changes. The lock holds while the answer lives.
fn lock_storage(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    let lock_path = dir.join("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StartError::Storage {
            dir: dir.display().to_string(),
            reason: e.to_string(),
        })?;
    lock.try_lock().map_err(|_| StartError::Storage {
        dir: dir.display().to_string(),
        reason: "another chargebrain is using it".into(),
    })?;
    Ok(lock)
}

/// The HTTP server on `listener`, its address said on stdout: the API and
/// the page behind the host guard, per-client connection limits and the
/// HTTP metrics.
fn http_server(
    settings: &Settings,
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    ocpp_listener: Option<std::net::TcpListener>,
    log: &Logger,
) -> Result<actix_web::dev::Server, StartError> {
    let listen = settings.http.listen.clone();
    let http_metrics = state.http.clone();
    let guard = Guard::new(&settings.http.hosts);
    let connections = Connections::new(settings.http.max_connections_per_client);
    // Every connection takes a file descriptor, and so does every device:
    // the global cap stays below the open-file limit.
    let open_files = raise_open_file_limit(log);
    let workers = settings.http.workers;
    let per_worker = settings
        .http
        .max_connections
        .min(usize::try_from(open_files.saturating_sub(256)).unwrap_or(usize::MAX))
        .max(16)
        / workers;
    info!(log, "connection limits"; "open_files" => open_files,
        "max_connections" => per_worker * workers,
        "per_client" => settings.http.max_connections_per_client);
    let server = HttpServer::new(move || {
        let guard = guard.clone();
        let http_metrics = http_metrics.clone();
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |req, srv| {
                use actix_web::dev::Service;
                use futures_util::future::{ready, Either};
                let labels = HttpMetrics::labels_of(&req);
                let answer = match guard.check(&req) {
                    Ok(()) => Either::Left(srv.call(req)),
                    Err(e) => Either::Right(ready(Ok(req.error_response(e)))),
                };
                let http_metrics = http_metrics.clone();
                async move {
                    let res = answer.await?;
                    http_metrics.observe(labels, &res);
                    Ok(res)
                }
            })
            .configure(api::routes)
    })
    .on_connect(move |conn, data| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Ok(peer) = tcp.peer_addr() {
                data.insert(connections.open(peer.ip()));
            }
        }
    })
    .max_connections(per_worker.max(1))
    // A connection refused or timed out is let go after a second, not five.
    .client_disconnect_timeout(Duration::from_secs(1))
    .workers(workers)
    // SIGTERM and SIGINT are handled by `stop_on_signal`.
    .disable_signals()
    .listen(listener)
    .map_err(|e| StartError::Listen {
        addr: listen.clone(),
        reason: e.to_string(),
    })?;
    // The OCPP endpoint's own address: the same server answers there.
    let server = match ocpp_listener {
        Some(l) => server.listen(l).map_err(|e| StartError::Listen {
            addr: settings.ocpp.listen.clone(),
            reason: e.to_string(),
        })?,
        None => server,
    };
    for addr in server.addrs() {
        // The last line on stdout: tests and scripts read the bound address here.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    Ok(server.run())
}

/// Says what is not configured yet: devices, the admin password.
fn warn_unconfigured(plant: &Plant, state: &actors::config::State, log: &Logger) {
    info!(log, "devices started"; "count" => plant.devices().len());
    if plant.devices().is_empty() {
        slog::warn!(
            log,
            "no devices are configured: load management does nothing until meters and \
            wallboxes are added on the admin page (Devices) or as [[devices]] before the first start"
        );
    }
    if state.admin_hash.is_none() {
        slog::warn!(
            log,
            "no admin password is set: anyone who reaches the daemon can change its settings; \
            set one on the admin page (Settings) or with cmd=change_admin_pwd"
        );
    }
}
