//! The example Node-RED flow (`examples/node-red/`), run headless by a real
//! Node-RED against the real daemon: the values it pushes arrive, and it
//! applies the control answer it gets back.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;

use crate::harness::{device_info, plain_settings, repo_file, Daemon, DaemonConfig};

/// Node-RED: `NODE_RED_BIN`, as `scripts/test.sh` installs it, or on the PATH.
fn node_red() -> PathBuf {
    std::env::var_os("NODE_RED_BIN").map_or_else(|| PathBuf::from("node-red"), PathBuf::from)
}

#[tokio::test]
async fn the_example_flow_feeds_the_daemon_and_applies_its_answer() {
    let devices =
        "[[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\nmax_charging_cur = 32000\n\
                   [[devices]]\ndev_id = \"M3\"\ndev_type = \"meter_ajax\"\nrole = 1\n";
    let d = Daemon::start(DaemonConfig::new(plain_settings(devices, 500))).await;

    let user_dir = tempfile::tempdir().expect("tempdir");
    let flows = user_dir.path().join("flows.json");
    std::fs::copy(repo_file("examples/node-red/flows.json"), &flows).expect("copy the flow");
    let out = user_dir.path().join("answer.json");
    let mut flow = Command::new(node_red())
        .arg("--userDir")
        .arg(user_dir.path())
        .arg("--settings")
        .arg(repo_file("examples/node-red/settings.js"))
        .arg(&flows)
        .env("CHARGEBRAIN_URL", &d.base)
        .env("CHARGEBRAIN_METER", "M3")
        .env("CHARGEBRAIN_EVSE", "E2")
        .env("CHARGEBRAIN_FLOW_OUT", &out)
        // Its editor on a port the system picks (nothing here talks to it).
        .env("NODE_RED_PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Node-RED is needed for this test: scripts/test.sh installs it (npm node-red@4.1.15) and sets NODE_RED_BIN");

    // The flow pushes every 2 s; Node-RED takes a few seconds to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let info = d.ok("cmd=get_dev_info").await;
        let e2 = device_info(&info, "E2");
        let applied = e2["lb_current"].as_i64().is_some_and(|c| c > 0)
            && e2["current_l1"] == e2["lb_current"];
        if device_info(&info, "M3")["model"] == "Node-RED meter" && applied {
            break info;
        }
        assert!(
            Instant::now() < deadline,
            "the flow did not close the loop; last: {info:#}"
        );
        assert!(matches!(flow.try_wait(), Ok(None)), "Node-RED exited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // What Node-RED pushed arrived...
    let m3 = device_info(&info, "M3");
    assert_eq!(
        [&m3["current_l1"], &m3["current_l2"], &m3["current_l3"]],
        [8000, 6000, 5000]
    );
    assert_eq!(m3["voltage_l2"], 231);
    assert_eq!(
        info["params"]["house_current"],
        serde_json::json!([8000, 6000, 5000])
    );
    // ...and the answer it received is what load management decided.
    let e2 = device_info(&info, "E2");
    assert_eq!(e2["model"], "Node-RED wallbox");
    assert_eq!(
        e2["lb_current"], 16_000,
        "the flow's wallbox reports a 16 A maximum"
    );
    let answer: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the flow wrote its answer"))
            .expect("the answer file is JSON");
    assert_eq!(answer["received"]["charging_current"], 16_000);
    assert_eq!(answer["received"]["charging_enabled"], true);
    assert_eq!(answer["allowed_ma"], 16_000);
    let _ = flow.kill().await;
}
