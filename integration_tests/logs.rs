//! What the daemon logs: the levels the README documents, configuration
//! changes, and a failing device without a flood.

use std::time::Duration;

use actors::sim::{powerbrain, serve_tcp, SharedBank};

use crate::harness::{device, device_info, simulated_power_brain, Daemon, DaemonConfig};

/// How many polls of `dev_id` have failed since the start.
fn failed_polls(info: &serde_json::Value, dev_id: &str) -> u64 {
    device_info(info, dev_id)["com_errors"]
        .as_u64()
        .unwrap_or_default()
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
    d.wait_logged(
        &[
            "DEBG request",
            "read holding registers 8000",
            "DEBG answer",
            "DEBG cycle",
        ],
        Duration::from_secs(30),
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
    // Bound but not listening: it refuses connections, and stays ours for
    // the whole test, so no other process can take the port meanwhile.
    let refusing = tokio::net::TcpSocket::new_v4().expect("socket");
    refusing
        .bind(std::net::SocketAddr::from((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .expect("bind");
    let refused = refusing.local_addr().expect("addr");
    let settings = format!(
        "[simulation]\nenabled = false\n[modbus]\ntimeout_ms = 100\n[load]\ncycle_time_ms = 100\n{}{}",
        device("M1", "meter_powerbrain", &sim.addr.to_string(), 2),
        device("M2", "meter_powerbrain", &refused.to_string(), 2),
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(Duration::from_secs(15), "M1 answers", |i| {
        device_info(i, "M1")["model"]
            .as_str()
            .is_some_and(|m| m.contains("Power Brain"))
    })
    .await;
    bank.set_online(false);
    let failing = d
        .wait_for(Duration::from_secs(15), "M1 fails", |i| {
            device_info(i, "M1")["com_err"] == true
        })
        .await;
    // 30 more failed polls of each (3 s at 100 ms a cycle, longer on a
    // loaded machine): one line each.
    let (m1, m2) = (failed_polls(&failing, "M1"), failed_polls(&failing, "M2"));
    d.wait_for(
        Duration::from_secs(60),
        "30 more failed polls of each",
        |i| failed_polls(i, "M1") >= m1 + 30 && failed_polls(i, "M2") >= m2 + 30,
    )
    .await;
    for dev in ["device: M1", "device: M2"] {
        assert_eq!(
            d.count_logged(&["WARN device does not answer", dev]),
            1,
            "{dev}: its failure once"
        );
    }
    let device_warnings = d.count_logged(&["WARN", "device: M"]);
    assert_eq!(device_warnings, 2, "no other warnings about the devices");
    bank.set_online(true);
    d.wait_logged(&["INFO device answers again"], Duration::from_secs(15))
        .await;
    // Ten more polls (M2, refusing all along, counts them): M1's recovery
    // is said once, and M2 has nothing to say.
    let m2 = failed_polls(&d.ok("cmd=get_dev_info").await, "M2");
    d.wait_for(Duration::from_secs(30), "ten more polls", |i| {
        failed_polls(i, "M2") >= m2 + 10
    })
    .await;
    assert_eq!(d.count_logged(&["device answers again", "device: M1"]), 1);
    assert_eq!(d.count_logged(&["device answers again", "device: M2"]), 0);
    assert_eq!(
        d.count_logged(&["device answers again", "for: ", "failed: "]),
        1,
        "with how long and how often it failed"
    );
}

#[tokio::test]
async fn configuration_changes_are_logged_with_who_and_what_but_no_secret() {
    let d = Daemon::start(simulated_power_brain()).await;
    let body = serde_json::json!({"max_total_current": 25000, "devices": [{"dev_id": "E1", "name": "Garage"}]});
    assert_eq!(d.post("cmd=set_params", body.to_string()).await.0, 200);
    d.wait_logged(
        &[
            "INFO configuration changed",
            "client: 127.0.0.1",
            "cmd: set_params",
            "max_total_current: 32000 → 25000",
            "E1.name: \"Wallbox 1\" → \"Garage\"",
        ],
        Duration::from_secs(30),
    )
    .await;
    // Posting back what is set changes nothing and logs no change.
    assert_eq!(d.post("cmd=set_params", body.to_string()).await.0, 200);
    let user =
        r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04C0FFEE"}]}"#;
    assert_eq!(d.post("cmd=set_user", user).await.0, 200);
    assert_eq!(
        d.ok_change("cmd=del_device&dev_id=M2").await,
        serde_json::json!("ok")
    );
    d.ok_change("cmd=modbus&device=evse&write=8093&value=100")
        .await;
    d.set_password("very-secret-9").await;
    d.wait_logged(
        &[
            "cmd: set_user, changes: user anna added",
            "cmd: del_device, changes: M2 deleted",
            "E1: register 8093 written with [100]",
            "cmd: change_admin_pwd, changes: admin password set",
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        d.count_logged(&["configuration changed"]),
        5,
        "one line per change"
    );
    for secret in ["very-secret-9", "04C0FFEE", "argon2"] {
        assert_eq!(d.count_logged(&[secret]), 0, "{secret} is never logged");
    }
}
