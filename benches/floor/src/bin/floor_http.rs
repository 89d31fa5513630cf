//! The HTTP floors: actix-web with one worker answering `/cnf?cmd=x`.
//!
//! `floor_http MODE` with MODE one of
//! - `direct`: 30 B of JSON from the handler;
//! - `actor`: the same through one `addr.send(msg).await` actor hop;
//! - `json3k`: a 3 KB JSON answer serialized on each request, through one
//!   actor hop (the shape of a small `get_dev_info`).
//!
//! Prints `listening on http://127.0.0.1:PORT` and serves until killed.

use actix::prelude::*;
use actix_web::{web, App, HttpResponse, HttpServer};

struct Holder {
    devices: serde_json::Value,
}

impl Actor for Holder {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "String")]
struct Ask {
    big: bool,
}

impl Handler<Ask> for Holder {
    type Result = String;

    fn handle(&mut self, msg: Ask, _: &mut Self::Context) -> String {
        if msg.big {
            self.devices.to_string()
        } else {
            SMALL.to_string()
        }
    }
}

const SMALL: &str = r#"{"ok":true,"answer":"floor 30 B"}"#;

/// About 3 KB of JSON: ten devices with a dozen fields each.
fn devices() -> serde_json::Value {
    let list: Vec<serde_json::Value> = (1..=10)
        .map(|n| {
            serde_json::json!({
                "dev_type": "evse_powerbrain", "name": format!("Wallbox {n}"),
                "address": format!("127.0.0.1:{}", 4700 + n), "id": 1,
                "dev_id": format!("E{n}"), "state": 3, "com_err": false,
                "cur_charging_power": 11_040, "total_energy": 1_234_567,
                "current_l1": 16_000, "current_l2": 16_000, "current_l3": 16_000,
                "lb_current": 16_000, "model": "cFos,Power Brain,,,",
            })
        })
        .collect();
    serde_json::json!({ "params": { "title": "floor" }, "devices": list })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "direct".into());
    let holder = Holder { devices: devices() }.start();
    let server = HttpServer::new(move || {
        let holder = holder.clone();
        let mode = mode.clone();
        App::new().route(
            "/cnf",
            web::get().to(move || {
                let (holder, mode) = (holder.clone(), mode.clone());
                async move {
                    let body = match mode.as_str() {
                        "direct" => SMALL.to_string(),
                        other => holder
                            .send(Ask {
                                big: other == "json3k",
                            })
                            .await
                            .unwrap_or_default(),
                    };
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}
