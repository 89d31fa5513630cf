//! What the daemon logs: the levels the README documents, configuration
//! changes, and a failing device without a flood.

use std::time::{Duration, Instant};

use actors::sim::{powerbrain, serve_tcp, SharedBank};

use crate::harness::{device, device_info, Daemon, DaemonConfig};

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

#[tokio::test]
async fn a_failing_device_is_logged_once_then_its_recovery_once() {
    // M1 stops answering for a while; M2 refuses connections all along.
    let bank = SharedBank::new(powerbrain::s0_meter(1));
    let sim = serve_tcp(
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        2,
        bank.clone(),
    )
    .await
    .expect("simulator");
    let refused = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let settings = format!(
        "[simulation]\nenabled = false\n[modbus]\ntimeout_ms = 100\n[load]\ncycle_time_ms = 100\n{}{}",
        device("M1", "meter_powerbrain", &sim.addr.to_string(), 2),
        device("M2", "meter_powerbrain", &refused.to_string(), 2),
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(Duration::from_secs(10), "M1 answers", |i| {
        device_info(i, "M1")["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("cFos Power Brain"))
    })
    .await;
    bank.set_online(false);
    d.wait_for(Duration::from_secs(10), "M1 fails", |i| {
        device_info(i, "M1")["com_err"] == true
    })
    .await;
    // About 40 polls of each in 4 s: one line each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for dev in ["device: M1", "device: M2"] {
        assert_eq!(
            d.count_logged(&["WARN device does not answer", dev]),
            1,
            "{dev}: its failure once"
        );
    }
    assert!(
        d.count_logged(&["WARN"]) <= 2,
        "no other warnings: {} lines",
        d.count_logged(&["WARN"])
    );
    bank.set_online(true);
    wait_logged(&d, &["INFO device answers again"], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(d.count_logged(&["device answers again", "device: M1"]), 1);
    assert_eq!(d.count_logged(&["device answers again", "device: M2"]), 0);
    assert_eq!(
        d.count_logged(&["device answers again", "for: ", "failed: "]),
        1,
        "with how long and how often it failed"
    );
}
