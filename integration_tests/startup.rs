//! Starting the daemon when something is wrong: a port in use, and what
//! `--check-config` says about settings and the state file.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::harness::{free_port_run, repo_file};

/// What a run of the binary that ends by itself left behind.
struct Exit {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with `args` and `env` until it exits (at most 20 s).
async fn run_to_exit(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Exit {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chargebrain"));
    cmd.args(args)
        .current_dir(dir)
        .env("CHARGEBRAIN__STORAGE__DIR", dir.join("data"))
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
    // The simulated plant takes five ports from `base`, the API the next.
    let base = free_port_run(6);
    let http = base + 5;
    let ports = [
        (base, "evse"),
        (base + 1, "meter1"),
        (base + 2, "meter2"),
        (base + 3, "evse2"),
        (base + 4, "grid"),
        (http, "http.listen"),
    ];
    for (busy, what) in ports {
        let _taken = TcpListener::bind((Ipv4Addr::LOCALHOST, busy)).expect("take the port");
        let run = run_to_exit(
            dir.path(),
            &["--config", settings.to_str().unwrap_or_default()],
            &[
                ("CHARGEBRAIN__SIMULATION__BASE_PORT", base.to_string()),
                ("CHARGEBRAIN__HTTP__LISTEN", format!("127.0.0.1:{http}")),
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
        for says in [&busy.to_string(), what, "in use"] {
            assert!(line.contains(says), "{what}: {line:?} should say {says:?}");
        }
        assert!(
            run.stdout.is_empty(),
            "{what}: never announced: {}",
            run.stdout
        );
    }
}
