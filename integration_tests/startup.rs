//! Starting the daemon when something is wrong: a port in use, and what
//! `--check-config` says about settings and the state file.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::harness::repo_file;

/// What a run of the binary that ends by itself left behind.
struct Exit {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with `args` and `env` (and no other
/// `CHARGEBRAIN__*` variables) until it exits (at most 20 s).
async fn run_to_exit(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Exit {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chargebrain"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHARGEBRAIN__")) {
        cmd.env_remove(key);
    }
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("the binary starts");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the daemon exits by itself")
        .expect("its output");
    Exit {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_port_in_use_is_one_clear_line_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("settings.toml");
    std::fs::copy(repo_file("settings.toml"), &settings).expect("settings");
    // Each time one port is taken (bound to port 0 and held), and the
    // daemon is told to use it: the simulated plant's five ports run from
    // `base`, and the API's is given on its own. The ports below a taken one
    // may be in use by another test's connection at that moment: then the
    // daemon names that port instead, and the check is made again.
    let names = ["evse", "meter1", "meter2", "evse2", "grid", "http.listen"];
    for (k, what) in names.into_iter().enumerate() {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("take a port");
            let busy = taken.local_addr().expect("its address").port();
            let k = u16::try_from(k).unwrap_or(0);
            let (base, http) = if what == "http.listen" {
                (0, busy)
            } else {
                (busy - k, 0)
            };
            let run = run_to_exit(
                dir.path(),
                &["--config", settings.to_str().unwrap_or_default()],
                &[
                    ("CHARGEBRAIN__SIMULATION__BASE_PORT", base.to_string()),
                    ("CHARGEBRAIN__HTTP__LISTEN", format!("127.0.0.1:{http}")),
                    ("CHARGEBRAIN__STORAGE__DIR", "data".into()),
                ],
            )
            .await;
            assert_eq!(run.code, Some(2), "{what}: {}", run.stderr);
            let lines: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            assert_eq!(lines.len(), 1, "{what}: one line, not {lines:#?}");
            let line = lines[0];
            assert!(
                line.contains("in use"),
                "{what}: {line:?} should say in use"
            );
            assert!(
                run.stdout.is_empty(),
                "{what}: never announced: {}",
                run.stdout
            );
            if !line.contains(&busy.to_string()) && attempts < 10 {
                continue;
            }
            for says in [&busy.to_string(), what] {
                assert!(line.contains(says), "{what}: {line:?} should say {says:?}");
            }
            drop(taken);
            break;
        }
    }
}

/// The problems `--check-config` printed, one per line, without the prefix.
fn problems(run: &Exit) -> Vec<String> {
    run.stderr
        .lines()
        .map(|l| l.trim_start_matches("chargebrain: ").to_string())
        .collect()
}

#[tokio::test]
async fn check_config_speaks_the_settings_language_and_reports_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("settings.toml");
    let check = [
        "--check-config",
        "--config",
        settings.to_str().unwrap_or_default(),
    ];
    let shipped = std::fs::read_to_string(repo_file("settings.toml")).expect("settings");

    // The shipped file is fine, and nothing claims overrides that are not there.
    std::fs::write(&settings, &shipped).expect("write");
    let run = run_to_exit(dir.path(), &check, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, format!("settings ok: {}", settings.display()));
    assert!(
        run.stdout
            .contains("state: data/state.json does not exist yet"),
        "{}",
        run.stdout
    );
    let run = run_to_exit(
        dir.path(),
        &check,
        &[("CHARGEBRAIN__HTTP__LISTEN", "127.0.0.1:1".into())],
    )
    .await;
    let first = run.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "settings ok: {} (with CHARGEBRAIN__HTTP__LISTEN)",
            settings.display()
        )
    );

    // A seventh device of a type that does not exist, and two more problems:
    // every one is named as the file names it.
    let typo = format!(
        "{shipped}\n[[devices]]\ndev_id = \"M4\"\ndev_type = \"meter_sdm360\"\naddress = \"grid\"\n"
    )
    .replace("workers = 1", "workers = 1\nlisen = 2")
    .replace("level = \"info\"", "level = \"loud\"");
    std::fs::write(&settings, typo).expect("write");
    let run = run_to_exit(dir.path(), &check, &[]).await;
    assert_eq!(run.code, Some(2));
    let found = problems(&run);
    let known = "known types: evse_powerbrain, meter_powerbrain, evse_group, meter_ajax, \
                 evse_ajax, evse_ocpp, meter_sunspec, inverter_sunspec, meter_sdm630, \
                 meter_sdm72dm, meter_orno_we516";
    for says in [
        format!("invalid settings: devices[7].dev_type: unknown type \"meter_sdm360\"; {known}"),
        "invalid settings: http.lisen: unknown key; known keys: listen, workers, public_read".into(),
        "invalid settings: log.level: unknown value \"loud\"; known values: error, warn, info, debug, trace".into(),
    ] {
        assert!(
            found.iter().any(|line| line.starts_with(&says)),
            "{found:#?} should hold {says:?}"
        );
    }
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[tokio::test]
async fn check_config_checks_the_state_file_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("settings.toml");
    std::fs::copy(repo_file("settings.toml"), &settings).expect("settings");
    let check = [
        "--check-config",
        "--config",
        settings.to_str().unwrap_or_default(),
    ];
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    let state = dir.path().join("data/state.json");
    let write_state = |params: &str, devices: &str| {
        let text = format!(
            r#"{{"version": 1, "title": "t", "desc": "", "params": {params}, "devices": [{devices}],
                "admin_hash": null, "license": {{"accepted": false, "allow_usage_stats": false}}}}"#
        );
        std::fs::write(&state, text).expect("write the state file");
    };
    // Two broken devices and a broken parameter: all three reported.
    write_state(
        r#"{"voltage": 5}"#,
        r#"{"dev_id": "E1", "dev_type": "evse_powerbrain", "address": "evse", "min_charging_cur": 1000},
           {"dev_id": "M1", "dev_type": "meter_powerbrain", "address": "meter1", "id": 0}"#,
    );
    let run = run_to_exit(dir.path(), &check, &[]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let found = problems(&run);
    for says in [
        "data/state.json: E1.min_charging_cur: 1000 mA is below 6000 mA",
        "data/state.json: M1.id: unit id 0 is not 1 to 247",
        "data/state.json: params.voltage: 5 V is not 100 to 400",
    ] {
        assert!(
            found.iter().any(|l| l == says),
            "{found:#?} should hold {says:?}"
        );
    }
    // The daemon refuses it the same way, and leaves it as it is.
    let before = std::fs::read_to_string(&state).expect("state");
    let start = run_to_exit(
        dir.path(),
        &["--config", settings.to_str().unwrap_or_default()],
        &[
            ("CHARGEBRAIN__SIMULATION__BASE_PORT", "0".into()),
            ("CHARGEBRAIN__HTTP__LISTEN", "127.0.0.1:0".into()),
        ],
    )
    .await;
    assert_eq!(start.code, Some(2), "{}", start.stderr);
    assert!(
        start
            .stderr
            .contains("params.voltage: 5 V is not 100 to 400"),
        "{}",
        start.stderr
    );
    assert_eq!(std::fs::read_to_string(&state).expect("state"), before);

    // A formula naming a device that does not exist: it starts, with a warning.
    write_state(
        r#"{"max_total_current": "32000 - M9.current"}"#,
        r#"{"dev_id": "E1", "dev_type": "evse_powerbrain", "address": "evse"}"#,
    );
    let run = run_to_exit(dir.path(), &check, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: data/state.json: a formula names what cannot exist"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("state ok: data/state.json (1 devices, 0 users)"),
        "{}",
        run.stdout
    );
}
