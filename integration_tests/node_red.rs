//! The example Node-RED flow (`examples/node-red/`), run headless by a real
//! Node-RED against the real daemon: it makes sure its HTTP-input devices
//! exist, the values it pushes arrive, it applies the control answer it
//! gets back, and a refusal is an error in its log, never silent.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{
    device_info, plain_settings, repo_file, simulated_power_brain, Daemon, DaemonConfig,
};

/// Node-RED: `NODE_RED_BIN`, as `scripts/test.sh` installs it, or on the PATH.
fn node_red() -> PathBuf {
    std::env::var_os("NODE_RED_BIN").map_or_else(|| PathBuf::from("node-red"), PathBuf::from)
}

/// A running Node-RED with the example flow, and what it printed.
struct Flow {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    answer: PathBuf,
    _user_dir: tempfile::TempDir,
}

impl Flow {
    /// Starts the example flow against `d` with `env` (e.g. the device ids).
    fn start(d: &Daemon, env: &[(&str, &str)]) -> Flow {
        let user_dir = tempfile::tempdir().expect("tempdir");
        let flows = user_dir.path().join("flows.json");
        std::fs::copy(repo_file("examples/node-red/flows.json"), &flows).expect("copy the flow");
        let answer = user_dir.path().join("answer.json");
        let mut cmd = Command::new(node_red());
        cmd.arg("--userDir")
            .arg(user_dir.path())
            .arg("--settings")
            .arg(repo_file("examples/node-red/settings.js"))
            .arg(&flows)
            .env("CHARGEBRAIN_URL", &d.base)
            .env("CHARGEBRAIN_FLOW_OUT", &answer)
            // Its editor on a port the system picks (nothing here talks to it).
            .env("NODE_RED_PORT", "0")
            .env_remove("CHARGEBRAIN_METER")
            .env_remove("CHARGEBRAIN_EVSE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect(
            "Node-RED is needed for this test: scripts/test.sh installs it (npm node-red@4.1.15) and sets NODE_RED_BIN",
        );
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(line);
                }
            });
        }
        Flow {
            child,
            output,
            answer,
            _user_dir: user_dir,
        }
    }

    /// A line Node-RED printed that contains `text`.
    fn printed(&self, text: &str) -> Option<String> {
        self.output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|l| l.contains(text))
            .cloned()
    }

    /// Waits until the flow has pushed wallbox `evse` and applied a current
    /// above 0; answers that `get_dev_info`.
    async fn wait_for_the_loop(&mut self, d: &Daemon, meter: &str, evse: &str) -> Value {
        // The flow pushes every 2 s; Node-RED takes a few seconds to start.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = d.ok("cmd=get_dev_info").await;
            let e = device_info(&info, evse);
            let applied = e["lb_current"].as_i64().is_some_and(|c| c > 0)
                && e["current_l1"] == e["lb_current"];
            if device_info(&info, meter)["model"] == "Node-RED meter" && applied {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "the flow did not close the loop; last: {info:#}"
            );
            assert!(matches!(self.child.try_wait(), Ok(None)), "Node-RED exited");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn the_example_flow_feeds_the_daemon_and_applies_its_answer() {
    let devices =
        "[[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\nmax_charging_cur = 32000\n\
                   [[devices]]\ndev_id = \"M3\"\ndev_type = \"meter_ajax\"\nrole = 1\n";
    let d = Daemon::start(DaemonConfig::new(plain_settings(devices, 500))).await;
    let mut flow = Flow::start(
        &d,
        &[("CHARGEBRAIN_METER", "M3"), ("CHARGEBRAIN_EVSE", "E2")],
    );
    let info = flow.wait_for_the_loop(&d, "M3", "E2").await;

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
    let answer: Value = serde_json::from_str(
        &std::fs::read_to_string(&flow.answer).expect("the flow wrote its answer"),
    )
    .expect("the answer file is JSON");
    assert_eq!(answer["received"]["charging_current"], 16_000);
    assert_eq!(answer["received"]["charging_enabled"], true);
    assert_eq!(answer["allowed_ma"], 16_000);
    // The devices existed: the flow created nothing.
    let ids: Vec<Value> = info["devices"]
        .as_array()
        .map(|all| all.iter().map(|d| d["dev_id"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["E2", "M3"]);
}

#[tokio::test]
async fn on_the_default_plant_the_flow_creates_its_own_devices() {
    let d = Daemon::start(simulated_power_brain()).await;
    let mut flow = Flow::start(&d, &[]);
    let info = flow.wait_for_the_loop(&d, "M4", "E3").await;
    let (m4, e3) = (device_info(&info, "M4"), device_info(&info, "E3"));
    assert_eq!(
        (&m4["dev_type"], &e3["dev_type"]),
        (
            &serde_json::json!("meter_ajax"),
            &serde_json::json!("evse_ajax")
        )
    );
    // The new wallbox joined without the site going over its limit.
    assert_eq!(info["params"]["overdraft_cur"], 0, "no overdraw");
    // The plant's own devices are as they were.
    assert_eq!(device_info(&info, "M3")["dev_type"], "meter_sdm630");
    assert_eq!(device_info(&info, "E2")["dev_type"], "evse_powerbrain");
    assert!(
        flow.printed("[error]").is_none(),
        "no errors: {:?}",
        flow.printed("[error]")
    );
}

#[tokio::test]
async fn an_id_of_another_kind_of_device_is_an_error_in_the_flow_log() {
    let d = Daemon::start(simulated_power_brain()).await;
    let flow = Flow::start(&d, &[("CHARGEBRAIN_METER", "M3")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        if let Some(line) = flow.printed("M3 is a meter_sdm630") {
            break line;
        }
        assert!(Instant::now() < deadline, "no error from the flow");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(line.contains("[error]"), "{line}");
    assert!(
        line.contains("set CHARGEBRAIN_METER to a free id"),
        "{line}"
    );
    // Nothing was changed or pushed.
    let info = d.ok("cmd=get_dev_info").await;
    assert_eq!(device_info(&info, "M3")["dev_type"], "meter_sdm630");
    assert_eq!(device_info(&info, "E3"), Value::Null);
}
