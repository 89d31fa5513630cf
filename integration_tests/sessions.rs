//! A car's session through restarts of the daemon: who authorised it and
//! the overrides set for it (a stop by card, a current cap) stay in force
//! until the car is unplugged, whether the daemon was stopped or killed.

use std::time::Duration;

use actors::sim::closed_loop::{PlantSim, SimulationSettings};
use serde_json::{json, Value};

use crate::harness::{device_info, Daemon, DaemonConfig, LOG_WAIT};

const ANNA: &str = r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1", "E2"],
    "rfids": [{"id": "04AB"}, {"id": "7777", "ac_auth": false, "ac_ovch": true}]}"#;

/// Two Power Brain wallboxes with a three-phase car each. The plant runs in
/// the test, so the cars stay plugged in while the daemon restarts.
async fn plant() -> PlantSim {
    let plant = PlantSim::start(&SimulationSettings {
        base_port: 0,
        wallboxes: 2,
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    plant.plug(1, 3, 16_000);
    plant.plug(2, 3, 16_000);
    plant
}

fn config(plant: &PlantSim, dir: &std::path::Path) -> DaemonConfig {
    let mut settings =
        "[simulation]\nenabled = false\n[load]\ncycle_time_ms = 200\nmax_total_current = 40000\n"
            .to_string();
    for (n, name) in [(1, "evse"), (2, "evse2")] {
        settings += &format!(
            "[[devices]]\ndev_id = \"E{n}\"\ndev_type = \"evse_powerbrain\"\naddress = \"{}\"\nmax_charging_cur = 16000\n",
            plant.addresses[name]
        );
    }
    DaemonConfig {
        settings,
        env: Vec::new(),
        dir: Some(dir.to_path_buf()),
    }
}

/// E1 charges for Anna capped at `cap` mA; E2 was stopped by her card.
async fn wait_for_the_sessions(d: &Daemon, cap: i64, when: &str) -> Value {
    let info = d
        .wait_for(Duration::from_secs(20), when, |i| {
            let (e1, e2) = (device_info(i, "E1"), device_info(i, "E2"));
            e1["state"] == 3
                && e1["lb_current"].as_i64().is_some_and(|c| c > 0 && c <= cap)
                && e2["lb_reason"] == "disabled by override"
        })
        .await;
    let (e1, e2) = (device_info(&info, "E1"), device_info(&info, "E2"));
    assert_eq!(
        (&e1["user"], &e1["ov_cur"], &e1["overrides"]),
        (&json!("anna"), &json!(cap), &json!(0)),
        "{when}: E1 {e1}"
    );
    assert_eq!(
        (&e2["user"], &e2["overrides"], &e2["lb_current"]),
        (&json!("anna"), &json!(1), &json!(0)),
        "{when}: E2 {e2}"
    );
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_by_card_and_a_current_cap_survive_a_stop_and_a_kill() {
    let plant = plant().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(config(&plant, dir.path())).await;
    assert_eq!(d.post("cmd=set_user", ANNA).await, (200, json!("ok")));
    d.wait_for(Duration::from_secs(20), "both cars wait for a card", |i| {
        ["E1", "E2"]
            .iter()
            .all(|e| device_info(i, e)["lb_reason"] == "waiting for authorisation")
    })
    .await;
    for wallbox in ["E1", "E2"] {
        let answer = d
            .ok(&format!("cmd=enter_rfid&rfid=04AB&dev_id={wallbox}"))
            .await;
        assert_eq!(answer, json!(wallbox));
    }
    let capped = d
        .ok("cmd=override_device&dev_id=E1&mamps=8000&rfid=04AB")
        .await;
    assert_eq!(capped, json!("ok"));
    assert_eq!(
        d.ok("cmd=enter_rfid&rfid=7777&dev_id=E2").await,
        json!("E2")
    );
    wait_for_the_sessions(&d, 8000, "before the restarts").await;
    // The log says it in words.
    d.wait_logged(
        &[
            "outcome: authorised user anna",
            "outcome: stopped charging for user anna",
        ],
        LOG_WAIT,
    )
    .await;

    // SIGTERM: a clean stop.
    assert_eq!(d.stop().await, Some(0));
    let d = Daemon::start(config(&plant, dir.path())).await;
    wait_for_the_sessions(&d, 8000, "after SIGTERM").await;

    // SIGKILL right after a change was answered: what was answered is kept.
    let capped = d
        .ok("cmd=override_device&dev_id=E1&mamps=7000&rfid=04AB")
        .await;
    assert_eq!(capped, json!("ok"));
    d.kill().await;
    let d = Daemon::start(config(&plant, dir.path())).await;
    wait_for_the_sessions(&d, 7000, "after SIGKILL").await;

    // Unplugged, the session and its overrides end.
    plant.unplug(2);
    d.wait_for(Duration::from_secs(20), "E2 unplugged", |i| {
        device_info(i, "E2")["state"] == 1
    })
    .await;
    plant.plug(2, 3, 16_000);
    d.wait_for(Duration::from_secs(20), "a new car at E2 waits", |i| {
        let e2 = device_info(i, "E2");
        e2["lb_reason"] == "waiting for authorisation" && e2["overrides"] == 0
    })
    .await;
}
