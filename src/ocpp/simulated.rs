//! The simulated plant's OCPP wallboxes (`[simulation] ocpp_wallboxes`):
//! charge points in the daemon's process that connect to its own OCPP
//! server over loopback, as a wallbox on the network would, with a real
//! WebSocket client (awc). What they say and do is
//! `actors::sim::ocpp_point`; this module carries their frames, and
//! reconnects like a charge point does when its link drops or it is refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actors::ocpp::frame::{self, Frame};
use actors::ocpp::SUBPROTOCOL;
use actors::sim::closed_loop::PlantSim;
use actors::sim::ocpp_point::{Call, SharedOcppBox, SimChargePoint};
use awc::ws;
use futures_util::{SinkExt, StreamExt};
use slog::{debug, info, Logger};

/// How often a charge point looks at its wallbox (status, meter values,
/// profiles that lapse).
const TICK: Duration = Duration::from_millis(500);

/// How long a charge point waits before it connects again.
const RETRY: Duration = Duration::from_secs(5);

/// Starts the charge point of each of the plant's OCPP wallboxes; `server`
/// is the daemon's HTTP address (its OCPP endpoint is there too).
pub fn start(plant: &PlantSim, ids: &[String], server: SocketAddr, log: &Logger) {
    let host = match server {
        // A daemon listening on every address is reached on loopback.
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    };
    for (n, id) in ids.iter().enumerate() {
        let Some(wallbox) = plant.ocpp_wallbox(n + 1).cloned() else {
            continue;
        };
        let url = format!("ws://{host}/ocpp/{id}");
        info!(log, "simulated OCPP charge point"; "id" => id, "url" => &url);
        let log = log.new(slog::o!("charge_point" => id.clone()));
        actix::spawn(run(url, wallbox, log));
    }
}

/// One charge point, for as long as the daemon runs.
async fn run(url: String, wallbox: SharedOcppBox, log: Logger) {
    let mut cp = SimChargePoint::default();
    loop {
        match session(&url, &mut cp, &wallbox).await {
            Ok(()) => debug!(log, "the central system closed the connection"),
            Err(e) => debug!(log, "no connection"; "error" => e),
        }
        // Offline its profiles still lapse, as in a real charge point: the
        // live limit gives way to the fail-safe.
        let until = Instant::now() + RETRY;
        while Instant::now() < until {
            let now = Instant::now();
            wallbox.lock().allowed_ma = cp.allowed_ma(now);
            tokio::time::sleep(TICK).await;
        }
    }
}

/// One connection: boot, then report and answer until it ends.
async fn session(
    url: &str,
    cp: &mut SimChargePoint,
    wallbox: &SharedOcppBox,
) -> Result<(), String> {
    let (_, mut ws) = awc::Client::new()
        .ws(url)
        .protocols([SUBPROTOCOL])
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut calls_sent = 0u64;
    let mut call = |(action, payload): Call| {
        calls_sent += 1;
        let id = calls_sent.to_string();
        (frame::call(&id, action, &payload), id)
    };
    let (text, boot) = call(cp.boot());
    send_text(&mut ws, text).await?;
    let mut booted = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !booted {
                    continue;
                }
                let now = Instant::now();
                let calls = {
                    let mut w = wallbox.lock();
                    w.allowed_ma = cp.allowed_ma(now);
                    cp.tick(&w, now)
                };
                for c in calls {
                    send_text(&mut ws, call(c).0).await?;
                }
            }
            received = ws.next() => match received {
                None => return Ok(()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(ws::Frame::Text(text))) => {
                    let text = String::from_utf8_lossy(&text);
                    match frame::parse(&text) {
                        Ok(Frame::Call { id, action, payload }) => {
                            let answer = match cp.answer(&action, &payload, Instant::now()) {
                                Ok(result) => frame::call_result(&id, &result),
                                Err((code, why)) => frame::call_error(&id, code, &why),
                            };
                            send_text(&mut ws, answer).await?;
                            wallbox.lock().allowed_ma = cp.allowed_ma(Instant::now());
                        }
                        Ok(Frame::CallResult { id, payload }) if id == boot => {
                            booted = payload["status"] == "Accepted";
                            if !booted {
                                return Err(format!("boot not accepted: {payload}"));
                            }
                        }
                        // Results of reports need nothing; a frame that is no
                        // OCPP is the server's to explain, not to answer.
                        Ok(_) | Err(_) => {}
                    }
                }
                Some(Ok(ws::Frame::Ping(data))) => {
                    ws.send(ws::Message::Pong(data)).await.map_err(|e| e.to_string())?;
                }
                Some(Ok(ws::Frame::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }
}

async fn send_text<S>(ws: &mut S, text: String) -> Result<(), String>
where
    S: futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError> + Unpin,
{
    ws.send(ws::Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}
