//! The API pinned: the key set and JSON type of every field of every
//! command's answer, compared with the reviewed snapshot
//! `integration_tests/api_snapshot.txt`. A change to it is a conscious API
//! change: regenerate it with
//!
//! ```sh
//! CHARGEBRAIN_UPDATE_SNAPSHOT=1 cargo test --test integration api_snapshot
//! ```
//!
//! and review the diff (`git diff integration_tests/api_snapshot.txt`).
//! Values are not pinned (they follow the plant); the other tests check them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actors::sim::closed_loop::{PlantSim, SimulationSettings};
use serde_json::Value;

use crate::harness::{device_info, Daemon, DaemonConfig};

const SNAPSHOT: &str = "integration_tests/api_snapshot.txt";

/// The JSON type of a value, as the snapshot names it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every path of `v` with the types seen there. Array elements share one
/// path (`[]`), except objects naming their `dev_type` (`[evse_ajax]`), so
/// that each device type's fields show. A key missing from some elements of
/// an array is marked so.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    out.entry(if path.is_empty() {
        ".".into()
    } else {
        path.into()
    })
    .or_default()
    .insert(type_name(v).to_string());
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                shape(value, &format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
            for item in items {
                let label = item
                    .get("dev_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                groups.entry(label).or_default().push(item);
            }
            for (label, members) in groups {
                let element = format!("{path}[{label}]");
                let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
                for m in &members {
                    shape(m, &element, out);
                    if let Value::Object(map) = m {
                        for key in map.keys() {
                            *keys.entry(key).or_default() += 1;
                        }
                    }
                }
                for (key, count) in keys {
                    if count < members.len() {
                        out.entry(format!("{element}.{key}"))
                            .or_default()
                            .insert("(in some)".into());
                    }
                }
            }
        }
        _ => {}
    }
}

fn render(answers: &[(String, Value)]) -> String {
    let mut text = String::from(
        "# The shape of every /cnf answer: path, then the JSON types seen there.\n\
         # Regenerate: CHARGEBRAIN_UPDATE_SNAPSHOT=1 cargo test --test integration api_snapshot\n",
    );
    for (command, answer) in answers {
        let mut paths = BTreeMap::new();
        shape(answer, "", &mut paths);
        text.push_str(&format!("\n## {command}\n"));
        for (path, types) in paths {
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            text.push_str(&format!("{path}: {}\n", types.join(" | ")));
        }
    }
    text
}

/// The lines of a snapshot, each prefixed with its command.
fn sectioned(text: &str) -> BTreeSet<String> {
    let mut section = "";
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            section = name;
        } else if !line.is_empty() && !line.starts_with('#') {
            out.insert(format!("{section}: {line}"));
        }
    }
    out
}

const ANNA: &str = r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1", "E2"], "rfids": [{"id": "04AB"}],
    "charging_rules": [{"mode": 0, "current": 16000}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_the_pinned_shape() {
    let plant = PlantSim::start(&SimulationSettings {
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        tick_ms: 50,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant");
    let settings = format!(
        "[simulation]\nenabled = false\n[load]\ncycle_time_ms = 200\nmax_total_current = 32000\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{evse}\"\nmax_charging_cur = 32000\n\
         charging_rules = [{{ current = 20000 }}]\n\
         [[devices]]\ndev_id = \"E5\"\ndev_type = \"evse_group\"\nmax_charging_cur = 20000\n\
         [[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\ngroup = 5\nmax_charging_cur = 16000\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_powerbrain\"\naddress = \"{meter1}\"\nid = 2\nrole = 0\n\
         [[devices]]\ndev_id = \"M2\"\ndev_type = \"meter_sdm630\"\naddress = \"{grid}\"\nrole = 3\n\
         [[devices]]\ndev_id = \"M3\"\ndev_type = \"meter_ajax\"\nrole = 0\n",
        evse = plant.addresses["evse"],
        meter1 = plant.addresses["meter1"],
        grid = plant.addresses["grid"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(DaemonConfig {
        settings,
        env: Vec::new(),
        dir: Some(dir.path().to_path_buf()),
    })
    .await;
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |name: &str, value: Value| answers.push((name.to_string(), value));

    keep("set_user", d.post("cmd=set_user", ANNA).await.1);
    // A car at E1 that a card authorises; pushed values for the HTTP devices.
    plant.plug(1, 3, 16_000);
    d.wait_for(Duration::from_secs(15), "E1 waits for a card", |i| {
        device_info(i, "E1")["lb_reason"] == "waiting for authorisation"
    })
    .await;
    keep("enter_rfid", d.ok("cmd=enter_rfid&rfid=04AB").await);
    keep(
        "set_ajax_meter",
        d.ok("cmd=set_ajax_meter&dev_id=M3&current=1000,2000,3000&voltage=230,230,230&import_wh=5")
            .await,
    );
    keep(
        "set_ajax_evse",
        d.ok("cmd=set_ajax_evse&dev_id=E2&state=2&rfid=04AB").await,
    );
    d.wait_for(Duration::from_secs(15), "E1 charges", |i| {
        device_info(i, "E1")["state"] == 3
            && device_info(i, "E1")["user"] == "anna"
            && device_info(i, "E1")["phase_rotation_state"] != "not_drawn"
    })
    .await;
    keep(
        "override_device",
        d.ok("cmd=override_device&dev_id=E1&mamps=10000&rfid=04AB")
            .await,
    );
    keep("get_dev_info", d.ok("cmd=get_dev_info").await);
    keep("get_params", d.ok("cmd=get_params").await);
    keep("get_dev_types", d.ok("cmd=get_dev_types").await);
    keep("get_user", d.ok("cmd=get_user&id=anna").await);
    keep("get_users", d.ok("cmd=get_users").await);
    keep("get_new_user_id", d.ok("cmd=get_new_user_id").await);
    keep("soft_meter", d.ok("cmd=soft_meter&dev_id=E1").await);
    keep(
        "identify_phases",
        d.post("cmd=identify_phases", "{}").await.1,
    );
    keep("modbus read", d.ok("cmd=modbus&device=M1&read=8062d").await);
    keep(
        "modbus read count",
        d.ok("cmd=modbus&device=M1&read=8002&count=3").await,
    );
    keep(
        "modbus read string",
        d.ok("cmd=modbus&device=M1&read=8016s").await,
    );
    keep(
        "modbus read all",
        d.ok("cmd=modbus&device=M1&read=all").await,
    );
    keep(
        "modbus write",
        d.ok_change("cmd=modbus&device=E1&write=8091&value=140")
            .await,
    );
    keep(
        "set_cm_vars",
        d.ok("cmd=set_cm_vars&name=gridLimit&val=20").await,
    );
    keep("get_cm_vars", d.ok("cmd=get_cm_vars").await);
    keep(
        "set_params",
        d.post("cmd=set_params", r#"{"title": "Garage"}"#).await.1,
    );
    keep(
        "accept_license",
        d.ok_change("cmd=accept_license&acc=1").await,
    );
    keep(
        "set_diag_logging",
        d.ok_change("cmd=set_diag_logging&enable=0").await,
    );
    keep(
        "reset_device",
        d.ok_change("cmd=reset_device&dev_id=M3").await,
    );
    keep("del_device", d.ok_change("cmd=del_device&dev_id=M3").await);
    let (_, log) = d.get_text("cmd=get_ta_log").await;
    keep(
        "get_ta_log (CSV header)",
        Value::from(log.lines().next().unwrap_or_default()),
    );
    keep("get_login", d.ok("cmd=get_login").await);
    keep(
        "change_admin_pwd",
        d.post("cmd=change_admin_pwd", r#"{"new_pwd": "secret"}"#)
            .await
            .1,
    );
    let (status, login) = d.post("cmd=login", r#"{"password": "secret"}"#).await;
    assert_eq!(status, 200, "{login}");
    keep("login", login);
    keep("logout", d.ok_change("cmd=logout").await);
    let (status, error) = d.change("cmd=set_diag_logging&enable=0").await;
    assert_eq!(status, 401);
    keep("an error (401, 400, 404...)", error);

    let text = render(&answers);
    let path = crate::harness::repo_file(SNAPSHOT);
    if std::env::var_os("CHARGEBRAIN_UPDATE_SNAPSHOT").is_some() {
        std::fs::write(&path, &text).expect("write the snapshot");
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    if pinned != text {
        let old = sectioned(&pinned);
        let new = sectioned(&text);
        let gone: Vec<&String> = old.difference(&new).collect();
        let added: Vec<&String> = new.difference(&old).collect();
        panic!(
            "the API's shape differs from {SNAPSHOT}.\nno longer there: {gone:#?}\nnew: {added:#?}\n\
             If the change is meant, regenerate it (CHARGEBRAIN_UPDATE_SNAPSHOT=1 cargo test \
             --test integration api_snapshot) and review the diff."
        );
    }
}
