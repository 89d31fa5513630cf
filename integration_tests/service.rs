//! Running as a service: the systemd notify protocol against a test that
//! plays systemd's side (a Unix datagram socket in `NOTIFY_SOCKET`,
//! `WATCHDOG_USEC` set), `/healthz` and `/readyz`, and the command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    get_path, plain_settings, repo_file, samples, simulated_power_brain, wait_until_ready, Daemon,
    DaemonConfig,
};

/// systemd's side: every datagram the daemon sends, with when it came.
struct FakeSystemd {
    messages: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl FakeSystemd {
    /// Listens on `path`; `on_ready` runs in the listening thread the moment
    /// READY=1 arrives (before anything else can happen in the test).
    fn listen(path: &Path, on_ready: impl FnOnce() + Send + 'static) -> FakeSystemd {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut on_ready = Some(on_ready);
            let mut buf = vec![0u8; 4096];
            while let Ok(len) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                if text.lines().any(|l| l == "READY=1") {
                    if let Some(f) = on_ready.take() {
                        f();
                    }
                }
                if tx.send((Instant::now(), text)).is_err() {
                    return;
                }
            }
        });
        FakeSystemd {
            messages: rx,
            seen: Vec::new(),
        }
    }

    /// Takes in what has arrived so far.
    fn drain(&mut self) -> &[(Instant, String)] {
        while let Ok(m) = self.messages.try_recv() {
            self.seen.push(m);
        }
        &self.seen
    }

    /// Waits up to `within` for a message with the line `line`.
    fn wait_for(&mut self, line: &str, within: Duration) -> (Instant, String) {
        self.wait_for_line(line, within, |l| l == line)
    }

    /// Waits up to `within` for a message with a line that `matches`.
    fn wait_for_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> (Instant, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.drain().iter().find(|(_, t)| t.lines().any(&matches)) {
                return m.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {within:?}; got {:?}",
                self.seen
            );
            if let Ok(m) = self
                .messages
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                self.seen.push(m);
            }
        }
    }

    /// When each WATCHDOG=1 came.
    fn pings(&mut self) -> Vec<Instant> {
        self.drain()
            .iter()
            .filter(|(_, t)| t.lines().any(|l| l == "WATCHDOG=1"))
            .map(|(at, _)| *at)
            .collect()
    }
}

/// A plain HTTP GET over a fresh connection: the status line, or why not.
fn raw_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

#[tokio::test]
async fn ready_reaches_systemd_once_the_api_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("notify");
    // The API's port is known once the daemon announces it; READY may come
    // a moment before the test has read that line.
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    let (tx, at_ready) = mpsc::channel();
    let mut systemd = FakeSystemd::listen(&socket, move || {
        let Ok(port) = port_rx.recv_timeout(Duration::from_secs(20)) else {
            return;
        };
        let _ = tx.send(raw_get(port, "/healthz"));
    });
    let d = Daemon::start(
        simulated_power_brain()
            .env("NOTIFY_SOCKET", socket.display())
            .env("WATCHDOG_USEC", 10_000_000),
    )
    .await;
    let announced = d
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the daemon announced its port");
    let _ = port_tx.send(announced);
    let (_, ready) = systemd.wait_for("READY=1", Duration::from_secs(20));
    assert!(ready.contains("STATUS="), "{ready}");
    // Asked the moment READY arrived: the API already answered.
    let answer = at_ready
        .recv_timeout(Duration::from_secs(15))
        .expect("the fake systemd asked the API");
    assert_eq!(
        answer.as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "at READY=1, GET /healthz"
    );
    // The devices were started: readiness comes with the first cycle's readings.
    let ready = wait_until_ready(&d).await;
    assert_eq!(ready["devices"], 6);
    assert_eq!(ready["state_loaded"], true);
    assert_eq!(d.stop().await, Some(0));
    systemd.wait_for("STOPPING=1", Duration::from_secs(5));
}

#[tokio::test]
async fn the_watchdog_is_pinged_while_the_cycle_runs_and_stops_when_it_hangs() {
    const WATCHDOG: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("notify");
    let mut systemd = FakeSystemd::listen(&socket, || {});
    // A 1 s cycle that hangs for good after 7 cycles (a debug-build hook).
    let d = Daemon::start(
        DaemonConfig::new(plain_settings("[load]\ncycle_time_ms = 1000\n", 1000))
            .env("NOTIFY_SOCKET", socket.display())
            .env("WATCHDOG_USEC", WATCHDOG.as_micros())
            .env("CHARGEBRAIN_DEBUG_STALL_CYCLE_AFTER", 7),
    )
    .await;
    let (ready_at, _) = systemd.wait_for("READY=1", Duration::from_secs(20));
    let (status, body) = get_path(&d, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    // Until the cycle hangs, /healthz says so within three periods.
    let deadline = Instant::now() + Duration::from_secs(40);
    let stalled_at = loop {
        let (status, body) = get_path(&d, "/healthz").await;
        if status == 503 {
            assert!(body.contains("cycle stalled"), "{body}");
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "the cycle never stalled: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Then watch for twice the watchdog timeout.
    tokio::time::sleep(WATCHDOG * 2).await;

    let pings = systemd.pings();
    let before: Vec<Instant> = pings.iter().copied().filter(|t| *t < stalled_at).collect();
    assert!(
        before.len() >= 4,
        "WATCHDOG=1 keeps coming while the cycle runs: {} pings in {:?}",
        before.len(),
        stalled_at - ready_at
    );
    let mut last = ready_at;
    for ping in &before {
        assert!(
            *ping - last <= WATCHDOG,
            "a gap of {:?} between pings: systemd would have killed the daemon",
            *ping - last
        );
        last = *ping;
    }
    // One ping interval of grace: a ping decided just before /healthz turned.
    let after: Vec<Duration> = pings
        .iter()
        .filter(|t| **t > stalled_at + WATCHDOG / 2)
        .map(|t| *t - stalled_at)
        .collect();
    assert!(
        after.is_empty(),
        "WATCHDOG=1 must stop once the cycle hangs; came {after:?} after it"
    );
    let statuses: Vec<String> = systemd
        .drain()
        .iter()
        .filter(|(at, _)| *at > stalled_at)
        .map(|(_, t)| t.clone())
        .collect();
    assert!(
        statuses.iter().any(|t| t.contains("STATUS=cycle stalled")),
        "systemd's status says why: {statuses:?}"
    );
    // The process itself still answers, and counts the cycles it skips.
    let (status, text) = get_path(&d, "/metrics").await;
    assert_eq!(status, 200);
    let overruns = samples(&text)
        .get("chargebrain_cycle_overruns_total")
        .copied();
    assert!(overruns.is_some_and(|n| n >= 2.0), "{overruns:?}");
    // get_dev_info counts them too, while the cycle still hangs.
    let info = d.ok("cmd=get_dev_info").await;
    let counted = info["params"]["cycle_overruns"].as_u64();
    assert!(counted.is_some_and(|n| n >= 2), "{counted:?}");
}

#[tokio::test]
async fn the_status_line_counts_devices_and_cars_charging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("notify");
    let mut systemd = FakeSystemd::listen(&socket, || {});
    let _d = Daemon::start(
        simulated_power_brain()
            .env("NOTIFY_SOCKET", socket.display())
            .env("WATCHDOG_USEC", 1_000_000),
    )
    .await;
    // The simulated plant: six devices, three cars that start charging.
    // The measured period is about 1000 ms.
    systemd.wait_for_line(
        "STATUS=cycle … ms, 6 devices, 3 charging",
        Duration::from_secs(30),
        |line| {
            line.strip_prefix("STATUS=cycle ")
                .and_then(|rest| rest.strip_suffix(" ms, 6 devices, 3 charging"))
                .and_then(|ms| ms.parse::<u64>().ok())
                .is_some_and(|ms| (900..=1500).contains(&ms))
        },
    );
}

#[tokio::test]
async fn without_systemd_nothing_is_sent_and_health_answers() {
    let d = Daemon::start(simulated_power_brain()).await;
    let (status, body) = get_path(&d, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["cycle_time_ms"], 1000);
    // HEAD, as uptime checkers send it.
    let head = d
        .client()
        .head(format!("{}/readyz", d.base))
        .send()
        .await
        .expect("HEAD /readyz");
    assert!(matches!(head.status().as_u16(), 200 | 503));
}

fn chargebrain(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chargebrain"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chargebrain")
}

#[test]
fn help_lists_the_commands_and_the_environment_overrides() {
    let out = chargebrain(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for text in [
        "check-config",
        "print-default-config",
        "--config <PATH>",
        "--version",
        "CHARGEBRAIN__SECTION__KEY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
    ] {
        assert!(help.contains(text), "--help lacks {text}:\n{help}");
    }
    // Every override the help shows as an example is one the daemon takes
    // (on the Debian package's settings, with a state directory of its own).
    let dir = tempfile::tempdir().expect("tempdir");
    let state_dir = dir.path().display().to_string();
    let examples: Vec<(String, String)> = help
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .filter(|(key, _)| key.starts_with("CHARGEBRAIN__") && key.split("__").count() == 3)
        .filter(|(key, _)| *key != "CHARGEBRAIN__SECTION__KEY")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(examples.len() >= 6, "{examples:?}");
    let settings = repo_file("debian/settings.toml");
    for (key, value) in examples {
        let mut env = vec![("CHARGEBRAIN__STORAGE__DIR", state_dir.as_str())];
        if key != "CHARGEBRAIN__STORAGE__DIR" {
            env.push((&key, &value));
        }
        let out = chargebrain(
            &["check-config", "--config", &settings.display().to_string()],
            &env,
        );
        assert!(
            out.status.success(),
            "{key}={value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = chargebrain(&["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("chargebrain {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_is_a_command_and_an_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[http]\nworkers = 0\n").expect("write");
    let good = repo_file("settings.toml").display().to_string();
    let bad = bad.display().to_string();
    for args in [
        vec!["check-config", "--config", &good],
        vec!["--config", &good, "check-config"],
        vec!["--check-config", "--config", &good],
    ] {
        let out = chargebrain(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
    for args in [
        vec!["check-config", "--config", &bad],
        vec!["--check-config", "--config", &bad],
    ] {
        let out = chargebrain(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("http.workers"));
    }
    let out = chargebrain(&["print-default-config"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(repo_file("settings.toml")).expect("settings")
    );
}
