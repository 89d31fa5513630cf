//! What the daemon logs: the levels the README documents, configuration
//! changes, and a failing device without a flood.

use std::time::{Duration, Instant};

use actors::sim::{powerbrain, serve_tcp, SharedBank};

use crate::harness::{device, Daemon, DaemonConfig};

/// Waits until a line of the log contains each of `texts`.
async fn wait_logged(d: &Daemon, texts: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    while !texts.iter().all(|t| d.logged(t)) {
        let missing: Vec<_> = texts.iter().filter(|t| !d.logged(t)).collect();
        assert!(Instant::now() < deadline, "never logged: {missing:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A simulated S0 meter and settings at `level` that read it every 200 ms.
async fn meter_settings(level: &str) -> String {
    let sim = serve_tcp(
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        2,
        SharedBank::new(powerbrain::s0_meter(1)),
    )
    .await
    .expect("simulator");
    format!(
        "[simulation]\nenabled = false\n[load]\ncycle_time_ms = 200\n[log]\nlevel = \"{level}\"\n{}",
        device("M1", "meter_powerbrain", &sim.addr.to_string(), 2)
    )
}

#[tokio::test]
async fn level_debug_logs_every_modbus_request_and_every_cycle() {
    let d = Daemon::start(DaemonConfig::new(meter_settings("debug").await)).await;
    wait_logged(
        &d,
        &[
            "DEBG request",
            "read holding registers 8000",
            "DEBG answer",
            "DEBG cycle",
        ],
        Duration::from_secs(10),
    )
    .await;
}
