//! `/healthz` and `/readyz` for Docker, Kubernetes and uptime checkers.
//! Both are open to anyone (they tell nothing about the site) and answer
//! without asking the supervisor, which may be what hangs.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// Alive: the process answers and the cycle finished within its last three
/// periods (200), else 503.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let health = &state.health;
    let alive = health.alive();
    let body = json!({
        "status": if alive { "ok" } else { "cycle stalled" },
        "last_cycle_ms_ago": u64::try_from(health.since_last_cycle().as_millis()).unwrap_or(u64::MAX),
        "cycle_time_ms": u64::try_from(health.period().as_millis()).unwrap_or(u64::MAX),
        "cycles": health.cycles(),
    });
    if alive {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Ready: the state is loaded and the devices are started (both done
/// before the API listens), and the first cycle has read them (200), else
/// 503.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let cycles = state.health.cycles();
    let ready = cycles > 0;
    let body = json!({
        "status": if ready { "ready" } else { "starting" },
        "state_loaded": true,
        "devices": state.plant().devices().len(),
        "cycles": cycles,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
