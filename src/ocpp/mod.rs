//! The OCPP 1.6J endpoint: `ws://HOST:PORT/ocpp/<chargePointId>` with the
//! `ocpp1.6` subprotocol. A charge point that is configured (an `evse_ocpp`
//! device whose address is its id) and gives its password, if it has one,
//! is attached to its device actor (`actors::ocpp::OcppWallbox`), which
//! then owns the connection. An unknown charge point is refused and listed
//! as asking to connect (`get_dev_info`'s `ocpp_asking`) until the admin
//! adopts it (`cmd=ocpp_adopt`).
//!
//! This module only moves frames: it limits their size and rate, answers
//! pings, and pings the charge point so that a dead link is noticed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use actors::ocpp::{
    valid_charge_point_id, Alive, Attach, Detached, Inbound, OcppWallbox, RemoteStart, RemoteStop,
    ResetChargePoint, SUBPROTOCOL,
};
use actors::supervisor::{Configure, Supervisor};
use serde::Serialize;
use serde_json::{json, Value};
use slog::{info, warn, Logger};
use tokio::sync::mpsc;

use crate::api::{ApiError, AppState, Params};

pub mod simulated;

/// The largest frame a charge point may send (a MeterValues of many
/// samples is a few KiB).
pub const MAX_FRAME: usize = 64 * 1024;

/// More frames than this in one second close the connection: no charge
/// point needs them, and one that floods is broken or hostile.
pub const MAX_FRAMES_PER_SECOND: u32 = 100;

/// How often the charge point is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(20);

/// How long the close frame may take to get out before the connection is
/// dropped (a charge point that reads nothing).
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// How many unknown charge points are listed at most (the oldest go first).
const MAX_ASKING: usize = 32;

/// A charge point that is not configured and asked to connect.
#[derive(Debug, Clone, Serialize)]
pub struct Asking {
    /// Its charge point id.
    pub id: String,
    /// The address it connected from.
    pub peer: String,
    /// How often it asked.
    pub attempts: u64,
    /// Seconds since it last asked.
    pub secs: u64,
    #[serde(skip)]
    last: Option<Instant>,
}

/// What the endpoint keeps: the charge points asking to connect, the
/// number of the next connection, and whether the daemon stops.
#[derive(Debug)]
pub struct OcppServer {
    asking: Mutex<BTreeMap<String, Asking>>,
    next_conn: AtomicU64,
    /// Set when the daemon stops: every connection is closed (a WebSocket
    /// would otherwise hold a graceful stop for its whole timeout).
    stopping: tokio::sync::watch::Sender<bool>,
    log: Logger,
}

impl OcppServer {
    pub fn new(log: &Logger) -> Self {
        OcppServer {
            asking: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(1),
            stopping: tokio::sync::watch::Sender::new(false),
            log: log.new(slog::o!("module" => "ocpp")),
        }
    }

    /// The unknown charge points that asked to connect, longest known first.
    pub fn asking(&self) -> Vec<Asking> {
        let now = Instant::now();
        let asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        asking
            .values()
            .map(|a| Asking {
                secs: a
                    .last
                    .map_or(0, |at| now.saturating_duration_since(at).as_secs()),
                ..a.clone()
            })
            .collect()
    }

    fn note_asking(&self, id: &str, peer: &str) {
        let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        if !asking.contains_key(id) && asking.len() >= MAX_ASKING {
            let oldest = asking
                .iter()
                .min_by_key(|(_, a)| a.last)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                asking.remove(&oldest);
            }
        }
        let entry = asking.entry(id.to_string()).or_insert_with(|| Asking {
            id: id.to_string(),
            peer: String::new(),
            attempts: 0,
            secs: 0,
            last: None,
        });
        entry.peer = peer.to_string();
        entry.attempts += 1;
        entry.last = Some(Instant::now());
    }

    /// Closes every charge point's connection ("going away"): the daemon
    /// stops. They reconnect when it is back; meanwhile their live profiles
    /// lapse to the fail-safe.
    pub fn close_all(&self) {
        self.stopping.send_replace(true);
    }

    fn forget(&self, id: &str) -> bool {
        let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        asking.remove(id).is_some()
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ocpp/{id}", web::get().to(connect));
}

/// Whether the `Authorization` header is basic auth with `user` and
/// `password`.
fn basic_auth_matches(req: &HttpRequest, user: &str, password: &str) -> bool {
    use base64::Engine;
    let Some(encoded) = req
        .headers()
        .get("Authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{user}:{password}");
    // Compared in full whatever the first difference, by hashes of the
    // same length.
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(&decoded),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether the client offered the `ocpp1.6` subprotocol.
fn offers_ocpp16(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("Sec-WebSocket-Protocol")
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
}

/// The upgrade of one charge point's connection.
async fn connect(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let server = &state.ocpp;
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    if !valid_charge_point_id(&id) {
        return Err(ApiError::Ocpp(format!(
            "'{id}' is no charge point id (1 to 48 letters, digits, '-', '_', '.', ':')"
        )));
    }
    if !offers_ocpp16(&req) {
        return Err(ApiError::Ocpp(format!(
            "the WebSocket subprotocol {SUBPROTOCOL} is required"
        )));
    }
    let plant = state.plant();
    let Some(device) = plant.charge_point(&id) else {
        warn!(server.log, "unknown charge point refused; it can be adopted"; "charge_point" => &id, "peer" => &peer);
        server.note_asking(&id, &peer);
        return Err(ApiError::NotFound(format!(
            "unknown charge point {id}: the admin can adopt it (cmd=ocpp_adopt&id={id})"
        )));
    };
    let Some(addr) = device.ocpp().cloned() else {
        return Err(ApiError::Unavailable(format!(
            "charge point {id} is starting"
        )));
    };
    let password = device.settings.password.as_str();
    if !password.is_empty() && !basic_auth_matches(&req, &id, password) {
        warn!(server.log, "charge point refused: wrong or no password"; "charge_point" => &id, "peer" => &peer);
        return Err(ApiError::OcppAuth(format!(
            "charge point {id}: wrong or no password"
        )));
    }
    let (response, session, stream) =
        actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])
            .map_err(|e| ApiError::Ocpp(format!("not a WebSocket upgrade: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let conn = server.next_conn.fetch_add(1, Ordering::Relaxed);
    let (out, out_rx) = mpsc::channel(actors::ocpp::wallbox::OUTBOUND_QUEUE);
    let (close, close_rx) = mpsc::channel(1);
    addr.do_send(Attach {
        conn,
        out,
        close,
        cards: state.supervisor.clone().recipient(),
        peer: peer.clone(),
    });
    let log = server.log.new(slog::o!("charge_point" => id));
    let stopping = server.stopping.subscribe();
    actix_web::rt::spawn(pump(
        session,
        stream,
        (out_rx, close_rx),
        (addr, conn),
        stopping,
        log,
    ));
    Ok(response)
}

/// Moves frames between one connection and its device actor until either
/// side ends it. Whatever protection ends it (too many frames, too big a
/// frame, a bad one, answers piling up), the charge point gets a close
/// frame with its code and reason: the actor's close has its own channel,
/// and is looked at before the frames waiting.
async fn pump(
    mut session: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    (mut out, mut closing): (mpsc::Receiver<String>, mpsc::Receiver<String>),
    (addr, conn): (Addr<OcppWallbox>, u64),
    mut stopping: tokio::sync::watch::Receiver<bool>,
    log: Logger,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut window = (Instant::now(), 0u32);
    // Until the actor drops its close sender: then the frames it queued
    // before are still written, and the end of `out` closes the connection.
    let mut close_open = true;
    let close = |code: CloseCode, why: &str| {
        Some(CloseReason {
            code,
            description: Some(why.to_string()),
        })
    };
    let (reason, why) = loop {
        tokio::select! {
            // In this order: a close before the frames it cuts short, and
            // the answers waiting before more calls are read.
            biased;
            _ = stopping.wait_for(|stop| *stop) => {
                break (close(CloseCode::Away, "chargebrain stops"), "chargebrain stops".to_string());
            }
            why = closing.recv(), if close_open => match why {
                Some(why) => break (close(CloseCode::Policy, &why), why),
                None => close_open = false,
            },
            next = out.recv() => match next {
                Some(text) => {
                    if session.text(text).await.is_err() {
                        break (None, "the connection ended".to_string());
                    }
                }
                None => break (close(CloseCode::Away, "device removed"), "device removed".to_string()),
            },
            msg = stream.recv() => match msg {
                None => break (None, "the connection ended".to_string()),
                Some(Err(actix_ws::ProtocolError::Io(_))) => {
                    break (None, "the connection ended".to_string());
                }
                Some(Err(e)) => {
                    let code = match e {
                        actix_ws::ProtocolError::Overflow => CloseCode::Size,
                        _ => CloseCode::Protocol,
                    };
                    let why = format!("bad frame: {e}");
                    break (close(code, &why), why);
                }
                Some(Ok(AggregatedMessage::Text(text))) => {
                    let now = Instant::now();
                    if now.saturating_duration_since(window.0) >= Duration::from_secs(1) {
                        window = (now, 0);
                    }
                    window.1 += 1;
                    if window.1 > MAX_FRAMES_PER_SECOND {
                        let why = format!("more than {MAX_FRAMES_PER_SECOND} frames a second");
                        break (close(CloseCode::Policy, &why), why);
                    }
                    addr.do_send(Inbound { conn, text: text.to_string() });
                }
                Some(Ok(AggregatedMessage::Binary(_))) => {
                    let why = "binary frames are not OCPP-J".to_string();
                    break (close(CloseCode::Unsupported, &why), why);
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        break (None, "the connection ended".to_string());
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => addr.do_send(Alive { conn }),
                Some(Ok(AggregatedMessage::Close(_))) => {
                    break (close(CloseCode::Normal, "bye"), "closed by the charge point".to_string());
                }
            },
            _ = ping.tick() => {
                if session.ping(b"").await.is_err() {
                    break (None, "the connection ended".to_string());
                }
            }
        }
    };
    info!(log, "connection closed"; "reason" => &why);
    // A charge point that reads nothing cannot hold the close (and its
    // actor's `Detached`) back.
    let _ = tokio::time::timeout(CLOSE_WITHIN, session.close(reason)).await;
    addr.do_send(Detached { conn, why });
}

/// `cmd=ocpp_adopt&id=<chargePointId>`: makes an unknown charge point that
/// asked to connect a wallbox (`evse_ocpp`, connector 1, the next free
/// `E<n>`); it is let in when it next connects.
pub async fn adopt(
    state: &AppState,
    req: &crate::api::Caller<'_>,
    params: &Params,
) -> Result<Value, ApiError> {
    let id = params.required("id")?.trim().to_string();
    if !valid_charge_point_id(&id) {
        return Err(ApiError::BadParam {
            name: "id",
            reason: format!("'{id}' is no charge point id"),
        });
    }
    let plant = state.plant();
    if let Some(d) = plant.charge_point(&id) {
        return Err(ApiError::BadParam {
            name: "id",
            reason: format!("charge point {id} is wallbox {} already", d.settings.dev_id),
        });
    }
    if !state.ocpp.asking().iter().any(|a| a.id == id) {
        return Err(ApiError::BadParam {
            name: "id",
            reason: format!("charge point {id} has not asked to connect"),
        });
    }
    let next = plant
        .devices()
        .iter()
        .filter_map(|d| d.settings.dev_id.strip_prefix('E')?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let dev_id = format!("E{next}");
    let change = json!({"devices": [{"dev_id": dev_id, "dev_type": "evse_ocpp", "address": id}]});
    let Value::Object(map) = change else {
        return Err(ApiError::Unavailable(
            "adoption could not be written".into(),
        ));
    };
    let supervisor: &Addr<Supervisor> = &state.supervisor;
    let changed = supervisor
        .send(Configure::Change(actors::config::Change::SetParams(map)))
        .await??;
    crate::api::log_change(req, "ocpp_adopt", &changed);
    state.ocpp.forget(&id);
    Ok(json!({"dev_id": dev_id}))
}

/// The OCPP wallbox `dev_id`'s actor, if it is one.
fn wallbox(state: &AppState, dev_id: &str) -> Option<Addr<OcppWallbox>> {
    state.plant().find(dev_id).and_then(|d| d.ocpp().cloned())
}

/// A card accepted for `dev_id` by `enter_rfid`: an OCPP charge point is
/// asked to start its transaction (RemoteStartTransaction).
pub fn card_entered(state: &AppState, dev_id: &str, rfid: &str) {
    if let Some(addr) = wallbox(state, dev_id) {
        addr.do_send(RemoteStart {
            id_tag: rfid
                .chars()
                .take(actors::ocpp::messages::MAX_ID_TAG)
                .collect(),
        });
    }
}

/// An override set for `dev_id`: a stop (`c`) also ends an OCPP charge
/// point's transaction (RemoteStopTransaction); the live profile is 0 A
/// from the next cycle on either way.
pub fn overridden(state: &AppState, dev_id: &str, flags: &str) {
    if flags.contains('c') {
        if let Some(addr) = wallbox(state, dev_id) {
            addr.do_send(RemoteStop);
        }
    }
}

/// `reset_device` of an OCPP wallbox: the charge point is asked to restart
/// (Reset, soft) before its actor is started afresh.
pub async fn reset(state: &AppState, dev_id: &str) {
    if let Some(addr) = wallbox(state, dev_id) {
        let _ = addr.send(ResetChargePoint).await;
    }
}
