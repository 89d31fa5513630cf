//! The public clients of the cFos API against the real binary: PyPI
//! `powerbrain` 0.1.0 itself (installed in the test venv), and a replay of
//! what the Home Assistant integration (`mb-software/homeassistant-powerbrain`)
//! sends and reads, request by request and key by key. Home Assistant
//! cannot run here and the integration is not on PyPI, so the replay forms
//! its URLs, bodies and credentials exactly as its `powerbrain.py` does
//! (`requests`: basic auth, `str(float)` in query strings, `json=` bodies).

use std::time::Duration;

use actors::sim::closed_loop::PlantSim;
use serde_json::{json, Value};

use crate::harness::{device_info, test_python, Daemon, DaemonConfig};

const PASSWORD: &str = "1234abcd";

/// Runs `script` with the test venv's Python (`sys.argv[1]` is the daemon's
/// base URL) and answers what it printed as JSON.
async fn python(script: &str, base: &str) -> Value {
    let out = tokio::process::Command::new(test_python())
        .arg("-c")
        .arg(script)
        .arg(base)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .await
        .expect("the test venv's python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{stdout:?} is not JSON: {e}"))
}

/// PyPI `powerbrain` 0.1.0: `connect()` reads get_params flat
/// (`max_total_evse_power`, `version`, `dev_meta`), `get_dev_info()` looks
/// every device type up in those names and links `attach`ed meters.
#[tokio::test]
async fn pypi_powerbrain_connects_and_reads_every_device() {
    let d = Daemon::start(crate::harness::simulated_power_brain()).await;
    // E1's meter is the Power Brain's S0 meter M1.
    let attach = json!({"devices": [{"dev_id": "E1", "attach": "M1"}]});
    assert_eq!(
        d.post("cmd=set_params", attach.to_string()).await,
        (200, json!("ok"))
    );
    let script = r#"
import json, sys
from powerbrain import Powerbrain

pb = Powerbrain(sys.argv[1])
pb.connect()
info = pb.get_dev_info()
devices = {
    dev_id: {
        "label": dev["dev_type_label"],
        "attach": dev["attach"],
        "attached": (dev.get("attached_device") or {}).get("dev_id"),
    }
    for dev_id, dev in info["devices"].items()
}
print(json.dumps({
    "max_total_evse_power": pb.max_total_evse_power,
    "version": pb.version,
    "names": pb.device_names,
    "devices": devices,
    "title": info["params"]["title"],
    "loadmgr_disabled": info["loadmgr_disabled"],
}))
"#;
    let got = python(script, &d.base).await;
    let params = d.ok("cmd=get_params").await;
    assert_eq!(got["version"], params["version"]);
    assert_eq!(got["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(got["max_total_evse_power"], params["max_total_evse_power"]);
    assert!(got["max_total_evse_power"].is_i64());
    assert_eq!(got["names"], d.ok("cmd=get_dev_types").await);
    assert_eq!(got["title"], "chargebrain");
    assert_eq!(got["loadmgr_disabled"], false);
    let devices = &got["devices"];
    assert_eq!(
        devices.as_object().map(|m| m.len()),
        Some(6),
        "every device: {devices}"
    );
    assert_eq!(devices["E1"]["label"], "cFos Power Brain Wallbox");
    assert_eq!(
        devices["M3"]["label"],
        "Eastron SDM630 / SDM630MCT / SDM72DM-V2"
    );
    assert_eq!(
        (&devices["E1"]["attach"], &devices["E1"]["attached"]),
        (&json!("M1"), &json!("M1")),
        "the attached meter is linked"
    );
    // Without an attach the client sets None.
    assert_eq!(devices["E2"]["attach"], Value::Null);
}

/// The Home Assistant integration's requests, as its `powerbrain.py` forms
/// them.
struct HomeAssistant<'a> {
    daemon: &'a Daemon,
    host: String,
    username: &'a str,
    password: &'a str,
}

impl HomeAssistant<'_> {
    /// `requests.get(url, timeout=5[, auth=(username, password)])`.
    async fn get(&self, path: &str, auth: bool) -> (u16, String) {
        let mut request = self
            .daemon
            .client()
            .get(format!("{}{path}", self.host))
            .timeout(Duration::from_secs(5));
        if auth {
            request = request.basic_auth(self.username, Some(self.password));
        }
        let resp = request.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// `Powerbrain.validate_auth`: `GET /ui/en/sim.htm` with basic auth,
    /// `raise_for_status()`.
    async fn validate_auth(&self) -> u16 {
        self.get("/ui/en/sim.htm", true).await.0
    }

    /// `get_devices` / `update_device_status`: `GET get_dev_info`, no auth.
    async fn dev_info(&self) -> Value {
        let (status, text) = self.get("/cnf?cmd=get_dev_info", false).await;
        assert_eq!(status, 200, "{text}");
        crate::harness::assert_no_duplicate_keys(&text);
        serde_json::from_str(&text).expect("get_dev_info is JSON")
    }

    /// `Evse.disable_charging` (C/c), `disable_charging_rules` (E/e),
    /// `disable_user_rules` (U/u): `override_device&dev_id=…&flags=…`,
    /// auth, `raise_for_status()`.
    async fn flag(&self, dev_id: &str, flag: char) -> u16 {
        let path = format!("/cnf?cmd=override_device&dev_id={dev_id}&flags={flag}");
        self.get(&path, true).await.0
    }

    /// `Evse.override_current_limit(value * 1000)`: the number entity's
    /// amperes times 1000, a Python float in the query (`16000.0`).
    async fn current_limit(&self, dev_id: &str, amperes: f64) -> u16 {
        let value = python_float(amperes * 1000.0);
        let path = format!("/cnf?cmd=override_device&dev_id={dev_id}&mamps={value}");
        self.get(&path, true).await.0
    }

    /// The `enter_rfid` service: `enter_rfid&rfid=…[&dev_id=…]`, no auth,
    /// no status check.
    async fn enter_rfid(&self, rfid: &str, dev_id: &str) -> (u16, String) {
        let dev = if dev_id.is_empty() {
            String::new()
        } else {
            format!("&dev_id={dev_id}")
        };
        self.get(&format!("/cnf?cmd=enter_rfid&rfid={rfid}{dev}"), false)
            .await
    }

    /// The `set_variable` service: `set_cm_vars&name=…&val=…`, auth.
    async fn set_variable(&self, name: &str, value: &str) -> (u16, String) {
        self.get(
            &format!("/cnf?cmd=set_cm_vars&name={name}&val={value}"),
            true,
        )
        .await
    }

    /// The `set_meter` service: `POST set_ajax_meter&dev_id=…` with the
    /// JSON body it builds, auth, `raise_for_status()`.
    async fn set_meter(&self, dev_id: &str, data: &Value) -> u16 {
        let resp = self
            .daemon
            .client()
            .post(format!(
                "{}/cnf?cmd=set_ajax_meter&dev_id={dev_id}",
                self.host
            ))
            .basic_auth(self.username, Some(self.password))
            .json(data)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("request");
        resp.status().as_u16()
    }
}

/// How Python's `str()` writes a float: `16000.0`, `6500.0`.
fn python_float(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// What the integration builds its entities from, for one device: it reads
/// these keys and fails (KeyError, TypeError) where one is missing or of
/// another type.
fn check_entity_keys(device: &Value, version: f64) {
    let dev_id = device["dev_id"].as_str().unwrap_or("?");
    let number = |key: &str| {
        assert!(
            device[key].is_number(),
            "{dev_id}.{key} is a number: {device}"
        );
    };
    assert!(device["name"].is_string() && device["model"].is_string());
    if device["is_evse"] == true {
        for key in [
            "cur_charging_power",
            "total_energy",
            "current_l1",
            "current_l2",
            "current_l3",
            "min_charging_cur",
            "max_charging_cur",
            "ov_cur",
        ] {
            number(key);
        }
        // The state sensor maps 1..6 to words, and nothing else.
        assert!((1..=6).contains(&device["state"].as_i64().unwrap_or(0)));
        // `overrides & 0b0001` needs an integer.
        assert!(device["overrides"].is_u64(), "{device}");
    } else {
        let power = if version >= 1.2 { "power_w" } else { "power" };
        for key in [
            power,
            "power",
            "import",
            "export",
            "current_l1",
            "current_l2",
            "current_l3",
            "voltage_l1",
            "voltage_l2",
            "voltage_l3",
        ] {
            number(key);
        }
        assert!(device["is_va"].is_boolean());
    }
}

/// The setup a user does besides Home Assistant: `POST cmd` with `body`
/// and the admin password; answers the status.
async fn admin_post(d: &Daemon, cmd: &str, body: &Value) -> u16 {
    d.client()
        .post(format!("{}/cnf?cmd={cmd}", d.base))
        .basic_auth("admin", Some(PASSWORD))
        .json(body)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// A Power Brain wallbox E1 on the plant, an HTTP meter M4 (the
/// integration's set_meter service needs one) and an S0 meter M1.
fn ha_config(plant: &PlantSim, dir: &std::path::Path) -> DaemonConfig {
    let settings = format!(
        "[simulation]\nenabled = false\n[site]\ntitle = \"Garage\"\n[load]\ncycle_time_ms = 100\nmax_total_current = 32000\n\
         [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\nname = \"Carport\"\naddress = \"{}\"\nmax_charging_cur = 16000\n\
         [[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_powerbrain\"\nname = \"S0\"\naddress = \"{}\"\nid = 2\n\
         [[devices]]\ndev_id = \"M4\"\ndev_type = \"meter_ajax\"\nname = \"Heat pump\"\n",
        plant.addresses["evse"], plant.addresses["meter1"]
    );
    DaemonConfig {
        settings,
        env: Vec::new(),
        dir: Some(dir.to_path_buf()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_integration_sets_up_discovers_and_controls() {
    let plant = crate::users::plant().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(ha_config(&plant, dir.path())).await;
    d.set_password(PASSWORD).await;
    let ha = HomeAssistant {
        daemon: &d,
        // The user types the host with its scheme; the integration appends paths.
        host: d.base.clone(),
        username: "admin",
        password: PASSWORD,
    };

    // Setup: get_devices, then validate_auth. A wrong password is a 401,
    // which `raise_for_status()` turns into ConfigEntryAuthFailed.
    let info = ha.dev_info().await;
    let wrong = HomeAssistant {
        password: "wrong",
        ..ha_ref(&ha)
    };
    assert_eq!(wrong.validate_auth().await, 401);
    assert_eq!(ha.validate_auth().await, 200);
    let params = &info["params"];
    // The config entry's title.
    assert_eq!(params["title"], "Garage");
    // `params["version"].split(".")` → float(major + "." + minor).
    let version_text = params["version"].as_str().expect("version is text");
    let parts: Vec<&str> = version_text.split('.').collect();
    let version: f64 = format!("{}.{}", parts[0], parts[1])
        .parse()
        .expect("major.minor is a float");
    // Every entity's unique id starts with the serial number.
    let serial = params["vsn"]["serialno"]
        .as_str()
        .expect("vsn.serialno is text")
        .to_string();
    assert!(!serial.is_empty());

    // Entity discovery: enabled devices, wallboxes by is_evse.
    let devices = info["devices"].as_array().expect("devices");
    let enabled: Vec<&Value> = devices
        .iter()
        .filter(|dev| dev["device_enabled"].as_u64().unwrap_or(0) != 0)
        .collect();
    assert_eq!(enabled.len(), 3);
    for dev in &enabled {
        check_entity_keys(dev, version);
    }
    let evses: Vec<&str> = enabled
        .iter()
        .filter(|dev| dev["is_evse"] == true)
        .filter_map(|dev| dev["dev_id"].as_str())
        .collect();
    assert_eq!(evses, ["E1"]);
    let e1 = |info: &Value| device_info(info, "E1");
    // The number entity's range, in A.
    assert_eq!(
        (
            e1(&info)["min_charging_cur"].as_f64().map(|v| v / 1000.0),
            e1(&info)["max_charging_cur"].as_f64().map(|v| v / 1000.0)
        ),
        (Some(6.0), Some(16.0))
    );
    assert_eq!(e1(&info)["ov_cur"], -1, "no cap yet");

    // Every switch, turned off and on, read back through the bit mask;
    // with no car plugged in yet, as a user may well do.
    for (off, on, bit) in [('C', 'c', 0b001), ('E', 'e', 0b010), ('U', 'u', 0b100)] {
        assert_eq!(ha.flag("E1", off).await, 200, "{off}");
        let mask = e1(&ha.dev_info().await)["overrides"].as_u64().unwrap_or(0);
        assert_eq!(mask & bit, bit, "switch {off} reads off (is_on = not bit)");
        assert_eq!(ha.flag("E1", on).await, 200, "{on}");
        let mask = e1(&ha.dev_info().await)["overrides"].as_u64().unwrap_or(0);
        assert_eq!(mask & bit, 0, "switch {on} reads on again");
    }

    // The current number: 10 A sent as 10000.0, shown back from ov_cur.
    assert_eq!(ha.current_limit("E1", 10.0).await, 200);
    let info = ha.dev_info().await;
    assert_eq!(e1(&info)["ov_cur"].as_f64().map(|v| v / 1000.0), Some(10.0));

    // The enter_rfid service: a user's card at the car that waits for it.
    let user = json!({"id": "2167520770", "name": "wusel", "display": true, "dev_ids": ["E1"],
        "rfids": [{"id": "4711", "name": "TeSt", "ac_auth": true, "ac_ovch": false, "used_phases": 0}],
        "charging_rules": []});
    assert_eq!(admin_post(&d, "set_user", &user).await, 200);
    plant.plug(1, 3, 16_000);
    d.wait_for(Duration::from_secs(15), "the car waits for a card", |i| {
        e1(i)["lb_reason"] == "waiting for authorisation"
    })
    .await;
    assert_eq!(ha.dev_info().await["auth_cnt"], 1);
    assert_eq!(ha.enter_rfid("4711", "").await, (200, "\"E1\"".to_string()));
    let info = d
        .wait_for(Duration::from_secs(15), "charging at the cap", |i| {
            // Readers without the password see the user by name, as
            // `display: true` allows.
            e1(i)["user_name"] == "wusel" && e1(i)["lb_current"] == 10_000
        })
        .await;
    assert_eq!(info["auth_cnt"], 0);
    assert_eq!(
        e1(&info)["ov_cur"],
        10_000,
        "the cap set before plug-in holds"
    );
    let written = d
        .wait_for(Duration::from_secs(15), "the cap written", |i| {
            e1(i)["last_set_charging_cur"] == 10_000
        })
        .await;
    check_entity_keys(&e1(&written), version);

    // The set_variable service: a charging-manager variable a formula reads.
    assert_eq!(ha.set_variable("boost", "8").await.0, 200);
    let formula = json!({"devices": [{"dev_id": "E1", "max_charging_cur": "CM.boost * 1000"}]});
    assert_eq!(admin_post(&d, "set_params", &formula).await, 200);
    d.wait_for(Duration::from_secs(15), "E1 follows CM.boost", |i| {
        e1(i)["lb_current"] == 8000
    })
    .await;
    assert_eq!(ha.set_variable("boost", "12.0").await.0, 200);
    d.wait_for(Duration::from_secs(15), "E1 follows the new value", |i| {
        e1(i)["lb_current"] == 10_000
    })
    .await;
    assert_eq!(d.ok("cmd=get_cm_vars").await, json!({"boost": 12.0}));
    // Without the password the variable is not set.
    let (status, _) = HomeAssistant {
        password: "wrong",
        ..ha_ref(&ha)
    }
    .set_variable("boost", "1")
    .await;
    assert_eq!(status, 401);

    // The set_meter service: A × 1000 and kWh × 1000 as floats, power as
    // power_va, is_va.
    let data = json!({"power_va": 11, "voltage": [231, 230, 230], "current": [1000.0, 0, 0],
        "import_wh": 1_234_000.0, "export_wh": 0.0, "is_va": true});
    assert_eq!(ha.set_meter("M4", &data).await, 200);
    let m4 = device_info(&ha.dev_info().await, "M4");
    assert_eq!(
        (
            &m4["power"],
            &m4["is_va"],
            &m4["current_l1"],
            &m4["voltage_l1"],
            &m4["import"]
        ),
        (
            &json!(11),
            &json!(true),
            &json!(1000),
            &json!(231),
            &json!(1_234_000)
        )
    );
    check_entity_keys(&m4, version);

    // The serial number, and so every entity id, survives a restart.
    assert_eq!(d.stop().await, Some(0));
    let d = Daemon::start(ha_config(&plant, dir.path())).await;
    let ha = HomeAssistant {
        daemon: &d,
        host: d.base.clone(),
        username: "admin",
        password: PASSWORD,
    };
    assert_eq!(ha.dev_info().await["params"]["vsn"]["serialno"], serial);
    assert_eq!(ha.validate_auth().await, 200);
    assert_eq!(d.ok("cmd=get_cm_vars").await, json!({"boost": 12.0}));
}

fn ha_ref<'a>(ha: &HomeAssistant<'a>) -> HomeAssistant<'a> {
    HomeAssistant {
        daemon: ha.daemon,
        host: ha.host.clone(),
        username: ha.username,
        password: ha.password,
    }
}
