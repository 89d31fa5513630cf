//! Starts the real `chargebrain` binary on loopback and talks to it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a test waits for a line of the daemon's log: generous, as a
/// loaded machine can hold the pipe back.
pub const LOG_WAIT: Duration = Duration::from_secs(15);

/// How long the daemon may take to announce its address.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    /// The simulated devices' addresses it announced (`evse`, `grid`...).
    pub simulated: BTreeMap<String, SocketAddr>,
    http: reqwest::Client,
    log: Arc<Mutex<VecDeque<String>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A daemon's settings file and environment, before it starts.
pub struct DaemonConfig {
    pub settings: String,
    pub env: Vec<(String, String)>,
    /// Reuse this directory (a restart keeps its files).
    pub dir: Option<PathBuf>,
}

impl DaemonConfig {
    pub fn new(settings: impl Into<String>) -> Self {
        DaemonConfig {
            settings: settings.into(),
            env: Vec::new(),
            dir: None,
        }
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// Settings for the built-in simulated Power Brain on free ports.
pub fn simulated_power_brain() -> DaemonConfig {
    DaemonConfig::new(
        std::fs::read_to_string(repo_file("settings.toml")).expect("shipped settings.toml"),
    )
    .env("CHARGEBRAIN__SIMULATION__BASE_PORT", 0)
}

pub fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

impl Daemon {
    pub async fn start(config: DaemonConfig) -> Daemon {
        match Self::try_start(config).await {
            Ok(d) => d,
            Err(e) => panic!("daemon did not start: {e}"),
        }
    }

    /// Starts the binary; on failure answers what it printed.
    pub async fn try_start(config: DaemonConfig) -> Result<Daemon, String> {
        Self::try_start_binary(Path::new(env!("CARGO_BIN_EXE_chargebrain")), config).await
    }

    /// Starts another build of the daemon (the one in the Debian package).
    pub async fn try_start_binary(binary: &Path, config: DaemonConfig) -> Result<Daemon, String> {
        let (tempdir, dir) = match config.dir {
            Some(dir) => (None, dir),
            None => {
                let t = tempfile::tempdir().map_err(|e| e.to_string())?;
                let dir = t.path().to_path_buf();
                (Some(t), dir)
            }
        };
        let settings_path = dir.join("settings.toml");
        std::fs::write(&settings_path, &config.settings).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(binary);
        cmd.arg("--config")
            .arg(&settings_path)
            .current_dir(&dir)
            .env("CHARGEBRAIN__HTTP__LISTEN", "127.0.0.1:0")
            .env("CHARGEBRAIN__STORAGE__DIR", dir.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // `simulated NAME on ADDR` lines, then `listening on URL`.
        let announced = tokio::time::timeout(START_DEADLINE, async {
            let mut simulated = BTreeMap::new();
            loop {
                let line = match lines.next_line().await {
                    Ok(Some(line)) => line,
                    other => return Err(format!("stdout ended: {other:?}")),
                };
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok((url.to_string(), simulated));
                }
                let device = line
                    .strip_prefix("simulated ")
                    .and_then(|rest| rest.split_once(" on "))
                    .and_then(|(name, addr)| Some((name.to_string(), addr.parse().ok()?)));
                match device {
                    Some((name, addr)) => {
                        simulated.insert(name, addr);
                    }
                    None => return Err(format!("unexpected line on stdout: {line}")),
                }
            }
        })
        .await;
        let (base, simulated) = match announced {
            Ok(Ok(found)) => found,
            other => {
                let _ = child.kill().await;
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_string(&mut err).await;
                }
                return Err(format!("no address announced ({other:?}); stderr:\n{err}"));
            }
        };
        // Keep draining stderr so the daemon never blocks on a full pipe,
        // keeping the latest lines for tests that look at the log.
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if std::env::var_os("CHARGEBRAIN_TEST_LOG").is_some() {
                        eprintln!("[daemon] {line}");
                    }
                    let mut kept = log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if kept.len() >= 5000 {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Daemon {
            child,
            base,
            simulated,
            http,
            log,
            _dir: tempdir,
        })
    }

    /// GET `/cnf?{query}`: the status and the raw body text.
    pub async fn get_text(&self, query: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}/cnf?{query}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {query}: {e:?}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// GET `/cnf?{query}` with the body parsed as JSON.
    pub async fn get(&self, query: &str) -> (u16, Value) {
        let (status, text) = self.get_text(query).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{query}: body {text:?} is not JSON: {e}"));
        (status, value)
    }

    /// POST `/cnf?{query}` with a raw body: the status and the body as JSON.
    pub async fn post(&self, query: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/cnf?{query}", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {query}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{query}: body {text:?} is not JSON: {e}"));
        (status, value)
    }

    /// A change without a body, as POST: the status and the raw body text.
    pub async fn change_text(&self, query: &str) -> (u16, String) {
        let resp = self
            .http
            .post(format!("{}/cnf?{query}", self.base))
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {query}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A change without a body: POST with `Content-Type: application/json`,
    /// as the daemon requires of changes.
    pub async fn change(&self, query: &str) -> (u16, Value) {
        self.post(query, "").await
    }

    /// A change without a body, expected to answer 200.
    pub async fn ok_change(&self, query: &str) -> Value {
        let (status, value) = self.change(query).await;
        assert_eq!(status, 200, "{query} -> {value}");
        value
    }

    /// Sets the admin password on a daemon that has none.
    pub async fn set_password(&self, password: &str) {
        let body = serde_json::json!({ "new_pwd": password }).to_string();
        let (status, value) = self.post("cmd=change_admin_pwd", body).await;
        assert_eq!(status, 200, "change_admin_pwd -> {value}");
    }

    /// GET and expect 200.
    pub async fn ok(&self, query: &str) -> Value {
        let (status, value) = self.get(query).await;
        assert_eq!(status, 200, "{query} -> {value}");
        value
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// SIGTERM, then wait for a clean exit; answers the exit code.
    pub async fn stop(mut self) -> Option<i32> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// Polls `get_dev_info` until `done` holds and answers it; fails with
    /// the last answer after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let info = self.ok("cmd=get_dev_info").await;
            if done(&info) {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached; last get_dev_info: {info:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no chance to clean up. Returns once the process is gone.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Whether a recent line of the daemon's log contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        let kept = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter().any(|line| line.contains(text))
    }

    /// Waits until lines of the log contain each of `texts`. The log comes
    /// through a pipe, so a line can arrive after the answer it follows.
    pub async fn wait_logged(&self, texts: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let missing: Vec<_> = texts.iter().filter(|t| !self.logged(t)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never logged: {missing:?}\n{:#?}",
                self.log_lines()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The recent lines of the daemon's log (stderr), oldest first.
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// How many recent lines of the daemon's log contain all of `texts`.
    pub fn count_logged(&self, texts: &[&str]) -> usize {
        let kept = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter()
            .filter(|line| texts.iter().all(|t| line.contains(t)))
            .count()
    }

    /// Forgets the log lines seen so far.
    pub fn clear_log(&self) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The daemon's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Settings with no simulation and the given `[[devices]]` entries.
pub fn plain_settings(devices: &str, timeout_ms: u64) -> String {
    format!(
        "[modbus]\ntimeout_ms = {timeout_ms}\n[simulation]\nenabled = false\n[log]\nlevel = \"debug\"\n{devices}"
    )
}

/// One `[[devices]]` entry.
pub fn device(dev_id: &str, dev_type: &str, address: &str, unit: u8) -> String {
    format!("[[devices]]\ndev_id = \"{dev_id}\"\ndev_type = \"{dev_type}\"\nname = \"{dev_id}\"\naddress = \"{address}\"\nid = {unit}\n")
}

/// The entry of `dev_id` in a `get_dev_info` answer (`Null` if missing).
pub fn device_info(info: &Value, dev_id: &str) -> Value {
    info["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["dev_id"] == dev_id))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The state file without what changes by itself (open transactions and
/// soft meters follow the simulated cars, learnt rotations the grid meter).
pub fn state_configuration(state_file: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(state_file).expect("the state file exists");
    let mut state: Value = serde_json::from_str(&text).expect("the state file parses");
    if let Some(map) = state.as_object_mut() {
        // What the cycle keeps by itself, not configuration: it may save
        // them at any moment (a learnt rotation as soon as it is confident).
        map.remove("open_transactions");
        map.remove("soft_meters");
        map.remove("learnt_rotations");
    }
    state
}

/// The Debian package `scripts/test.sh` builds with `scripts/package.sh`
/// (`CHARGEBRAIN_DEB`).
pub fn test_deb() -> PathBuf {
    std::env::var_os("CHARGEBRAIN_DEB").map_or_else(
        || panic!("CHARGEBRAIN_DEB is not set: scripts/test.sh builds the package with scripts/package.sh and sets it"),
        PathBuf::from,
    )
}

/// Debian's `promtool` (package `prometheus`, which `scripts/test.sh`
/// installs), or `PROMTOOL_BIN`.
pub fn promtool() -> PathBuf {
    std::env::var_os("PROMTOOL_BIN").map_or_else(|| PathBuf::from("promtool"), PathBuf::from)
}

/// GET a path of the daemon (not `/cnf`): the status and the body text.
pub async fn get_path(d: &Daemon, path: &str) -> (u16, String) {
    let resp = d
        .client()
        .get(format!("{}{path}", d.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Polls `/readyz` until it answers 200; answers its body.
pub async fn wait_until_ready(d: &Daemon) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get_path(d, "/readyz").await;
        if status == 200 {
            return serde_json::from_str(&body).expect("/readyz answers JSON");
        }
        assert!(Instant::now() < deadline, "/readyz: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The samples of a Prometheus text exposition: `name{labels}` (as
/// written) to value.
pub fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The Python of the test venv (`CHARGEBRAIN_TEST_PYTHON`, set by
/// `scripts/test.sh`), which has the packages of `scripts/requirements-test.txt`.
pub fn test_python() -> PathBuf {
    std::env::var_os("CHARGEBRAIN_TEST_PYTHON").map_or_else(
        || panic!("CHARGEBRAIN_TEST_PYTHON is not set: scripts/test.sh makes the venv with scripts/requirements-test.txt and sets it"),
        PathBuf::from,
    )
}

/// Sends one JSON line to a Python test device (pymodbus, PyPI ocpp) and
/// reads its one-line JSON answer, within `within`.
pub async fn ask_line(
    stdin: &mut tokio::process::ChildStdin,
    stdout: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    line: &Value,
    within: Duration,
) -> Value {
    use tokio::io::AsyncWriteExt;
    let text = format!("{line}\n");
    stdin.write_all(text.as_bytes()).await.expect("write");
    let answer = tokio::time::timeout(within, stdout.next_line())
        .await
        .unwrap_or_else(|_| panic!("{line}: no answer"))
        .expect("read")
        .unwrap_or_else(|| panic!("{line}: the test device exited"));
    serde_json::from_str(&answer).expect("JSON")
}

/// Fails if any object in the JSON `text` has a key twice (a parser keeps
/// one of them, and which one differs between clients).
pub fn assert_no_duplicate_keys(text: &str) {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Checked(String);

    impl<'de> DeserializeSeed<'de> for &mut Checked {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for &mut Checked {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(&mut *self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) && self.0.is_empty() {
                    self.0 = key;
                }
                map.next_value_seed(&mut *self)?;
            }
            Ok(())
        }
    }

    let mut checked = Checked(String::new());
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut checked)
        .deserialize(&mut de)
        .unwrap_or_else(|e| panic!("not JSON: {e}"));
    assert!(
        checked.0.is_empty(),
        "key {:?} appears twice in one object: {text}",
        checked.0
    );
}
