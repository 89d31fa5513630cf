//! Starting and stopping: settings errors stop the daemon with the key's
//! name, SIGTERM stops it cleanly, and a restart (after SIGTERM or SIGKILL)
//! keeps what was changed.

use serde_json::json;

use crate::harness::{device_info, repo_file, simulated_power_brain, Daemon, DaemonConfig};

/// Settings text, environment overrides, and what the error must name.
type BadSettingsCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[tokio::test]
async fn bad_settings_stop_the_daemon_with_the_key_name() {
    let cases: [BadSettingsCase; 6] = [
        ("[http]\nworkers = 0\n", &[], "http.workers"),
        ("", &[("CHARGEBRAIN__HTTP__WORKERS", "many")], "workers"),
        ("[htp]\n", &[], "htp"),
        (
            "",
            &[("CHARGEBRAIN__MODBUS__TIMEOUT_MS", "fast")],
            "timeout_ms",
        ),
        ("", &[("CHARGEBRAIN__SIMULATION__ENABLE", "true")], "enable"),
        (
            "[[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"nowhere\"\n",
            &[],
            "bad device address 'nowhere'",
        ),
    ];
    for (toml, env, key) in cases {
        let mut config = DaemonConfig::new(toml).env("CHARGEBRAIN__SIMULATION__BASE_PORT", 0);
        for (k, v) in env {
            config = config.env(k, v);
        }
        let err = match Daemon::try_start(config).await {
            Ok(_) => panic!("started with {toml:?} {env:?}"),
            Err(e) => e,
        };
        assert!(err.contains(key), "{err} should name {key}");
    }
}

#[tokio::test]
async fn check_config_validates_without_starting() {
    let run = |path: std::path::PathBuf| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chargebrain"))
            .arg("--check-config")
            .arg("--config")
            .arg(path)
            .output()
            .expect("run")
    };
    assert!(run(repo_file("settings.toml")).status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[modbus]\ntimeout_ms = 0\n").expect("write");
    let out = run(bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("modbus.timeout_ms"));
}

#[tokio::test]
async fn a_restart_after_sigterm_or_sigkill_keeps_what_was_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || DaemonConfig {
        settings: std::fs::read_to_string(repo_file("settings.toml")).expect("settings"),
        env: vec![("CHARGEBRAIN__SIMULATION__BASE_PORT".into(), "0".into())],
        dir: Some(dir.path().to_path_buf()),
    };
    let first = Daemon::start(config()).await;
    let change = r#"{"title": "Garage", "max_total_current": 25000,
        "devices": [{"dev_id": "E1", "max_charging_cur": 10000}]}"#;
    assert_eq!(
        first.post("cmd=set_params", change).await,
        (200, json!("ok"))
    );
    let anna = r#"{"id": "anna", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}]}"#;
    assert_eq!(first.post("cmd=set_user", anna).await, (200, json!("ok")));
    assert_eq!(first.stop().await, Some(0), "SIGTERM exits with 0");

    let kept = |info: &serde_json::Value| {
        (
            info["params"]["title"].clone(),
            info["params"]["max_total_current"].clone(),
            device_info(info, "E1")["max_charging_cur"].clone(),
        )
    };
    let second = Daemon::start(config()).await;
    let info = second.ok("cmd=get_dev_info").await;
    assert_eq!(kept(&info), (json!("Garage"), json!(25000), json!(10000)));
    assert_eq!(info["devices"].as_array().map(Vec::len), Some(6));
    assert_eq!(second.ok("cmd=get_user&id=anna").await["name"], "Anna");
    assert_eq!(
        second.ok("cmd=modbus&device=meter1&read=8016s").await,
        json!("cFos Power Brain"),
        "the simulated plant runs again"
    );
    // Acknowledged, then killed without warning: still there.
    assert_eq!(
        second
            .post("cmd=set_params", r#"{"title": "Carport"}"#)
            .await,
        (200, json!("ok"))
    );
    second.kill().await;

    let third = Daemon::start(config()).await;
    let info = third.ok("cmd=get_dev_info").await;
    assert_eq!(kept(&info), (json!("Carport"), json!(25000), json!(10000)));
    assert_eq!(third.ok("cmd=get_user&id=anna").await["name"], "Anna");
}

#[tokio::test]
async fn json_logs_when_asked() {
    let d = Daemon::start(simulated_power_brain().env("CHARGEBRAIN__LOG__FORMAT", "json")).await;
    d.ok("cmd=get_dev_info").await;
    // Every line is a JSON object with a message and a level; the start is logged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let lines = d.log_lines();
        let parsed: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect();
        for p in &parsed {
            assert!(p["msg"].is_string() && p["level"].is_string(), "{p}");
        }
        if parsed.iter().any(|p| p["msg"] == "devices started") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no \"devices started\" line: {lines:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
