//! Starting and stopping: settings errors stop the daemon with the key's
//! name, SIGTERM stops it cleanly, and a restart comes back the same.

use serde_json::json;

use crate::harness::{free_port_run, repo_file, simulated_power_brain, Daemon, DaemonConfig};

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
async fn sigterm_stops_cleanly_and_a_restart_comes_back_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port_run(1);
    let sim_base = free_port_run(5);
    let config = || DaemonConfig {
        settings: std::fs::read_to_string(repo_file("settings.toml")).expect("settings"),
        env: vec![
            (
                "CHARGEBRAIN__SIMULATION__BASE_PORT".into(),
                sim_base.to_string(),
            ),
            (
                "CHARGEBRAIN__HTTP__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            ),
        ],
        dir: Some(dir.path().to_path_buf()),
    };
    let first = Daemon::start(config()).await;
    assert_eq!(first.base, format!("http://127.0.0.1:{port}"));
    let info_before = first.ok("cmd=get_dev_info").await;
    assert_eq!(first.stop().await, Some(0), "SIGTERM exits with 0");

    let second = Daemon::start(config()).await;
    assert_eq!(second.base, format!("http://127.0.0.1:{port}"));
    let info_after = second.ok("cmd=get_dev_info").await;
    assert_eq!(info_after["devices"].as_array().map(Vec::len), Some(5));
    for key in ["title", "desc", "version"] {
        assert_eq!(info_after["params"][key], info_before["params"][key]);
    }
    assert_eq!(
        second.ok("cmd=modbus&device=meter1&read=8016s").await,
        json!("cFos Power Brain")
    );
}

#[tokio::test]
async fn json_logs_when_asked() {
    let mut d =
        Daemon::start(simulated_power_brain().env("CHARGEBRAIN__LOG__FORMAT", "json")).await;
    assert!(d.is_running());
    d.ok("cmd=get_dev_info").await;
}
