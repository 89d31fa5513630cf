//! A real Mosquitto broker on loopback for the MQTT tests, and its command
//! line clients `mosquitto_sub` and `mosquitto_pub` (Debian's
//! `mosquitto` and `mosquitto-clients`; `scripts/test.sh` installs them).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long the broker may take to say it runs.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Lines kept from a process's output.
type Lines = Arc<Mutex<Vec<String>>>;

fn keep_lines(out: impl tokio::io::AsyncRead + Unpin + Send + 'static, kept: Lines) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("CHARGEBRAIN_TEST_LOG").is_some() {
                eprintln!("[mqtt] {line}");
            }
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
}

/// A running `mosquitto`; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Extra lines of `mosquitto.conf` (TLS, passwords).
    extra: String,
    log: Lines,
}

impl Broker {
    /// A broker that lets anybody in.
    pub async fn start() -> Broker {
        Self::start_with("allow_anonymous true\n", |_| {}).await
    }

    /// A broker with `extra` configuration; `prepare` may write files into
    /// its directory first (a password file, certificates).
    pub async fn start_with(extra: &str, prepare: impl FnOnce(&std::path::Path)) -> Broker {
        let mut dir = tempfile::tempdir().expect("temporary directory");
        prepare(dir.path());
        let extra = extra.replace("$DIR", &dir.path().display().to_string());
        // Mosquitto cannot be told to listen on port 0 (that is a Unix
        // socket to it): a port is learnt from the system, and the broker
        // is believed to own it only once it says it runs. If another
        // program took the port meanwhile, the broker fails to bind, says
        // so and exits, and another port is tried.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut broker = Broker {
                child: None,
                port,
                dir,
                extra: extra.clone(),
                log: Arc::default(),
            };
            match broker.run().await {
                Ok(()) => return broker,
                Err(e) => {
                    eprintln!("mosquitto on port {port}: {e}; trying another port");
                    dir = broker.dir;
                }
            }
        }
        panic!("mosquitto did not start on any of ten ports");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// Starts mosquitto on `self.port`; answers once it runs.
    async fn run(&mut self) -> Result<(), String> {
        let config = format!(
            "listener {} 127.0.0.1\npersistence false\nlog_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             connection_messages true\n{}",
            self.port, self.extra
        );
        std::fs::write(self.config_path(), config).map_err(|e| e.to_string())?;
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run mosquitto (is it installed?): {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let started = tokio::time::timeout(START_DEADLINE, async {
            let mut said = Vec::new();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        let running = line.contains(" running");
                        said.push(line);
                        if running {
                            return Ok(said);
                        }
                    }
                    _ => return Err(said.join("\n")),
                }
            }
        })
        .await;
        match started {
            Ok(Ok(said)) => {
                self.log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(said);
                keep_lines(lines.into_inner().into_inner(), self.log.clone());
                self.child = Some(child);
                Ok(())
            }
            Ok(Err(said)) => {
                let _ = child.kill().await;
                Err(format!("mosquitto exited: {said}"))
            }
            Err(_) => {
                let _ = child.kill().await;
                Err("mosquitto did not say it runs".into())
            }
        }
    }

    /// SIGKILL: the broker is gone at once, with every retained message
    /// (no persistence).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port (the clients know no other).
    pub async fn restart(&mut self) {
        self.kill().await;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.run().await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("mosquitto restart: {e}; again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("mosquitto did not start again on {}: {e}", self.port),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// How many lines of the broker's log contain `text`.
    pub fn count_logged(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// A client that subscribes to `topics` and keeps what arrives.
    pub async fn subscribe(&self, topics: &[&str]) -> Subscriber {
        Subscriber::start(self, topics, &[]).await
    }

    /// `mosquitto_pub -t topic -m payload`.
    pub async fn publish(&self, topic: &str, payload: &str) {
        self.publish_args(topic, &["-m", payload]).await;
    }

    /// `mosquitto_pub` with its payload from stdin: the whole input as one
    /// message (`-s`), or each line as a message (`-l`).
    pub async fn publish_stdin(&self, topic: &str, flag: &str, input: &[u8]) {
        let mut child = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-t",
                topic,
                flag,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input)
            .await
            .expect("write to mosquitto_pub");
        drop(stdin);
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("mosquitto_pub finished")
            .expect("mosquitto_pub ran");
        assert!(status.success(), "mosquitto_pub {topic} {flag}: {status}");
    }

    pub async fn publish_args(&self, topic: &str, args: &[&str]) {
        let status = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic])
            .args(args)
            .status()
            .await
            .expect("mosquitto_pub");
        assert!(status.success(), "mosquitto_pub {topic}: {status}");
    }
}

/// One message as `mosquitto_sub` printed it.
#[derive(Debug, Clone)]
pub struct Message {
    pub retained: bool,
    pub topic: String,
    pub payload: String,
}

impl Message {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.payload)
            .unwrap_or_else(|e| panic!("{}: {:?} is not JSON: {e}", self.topic, self.payload))
    }
}

/// A running `mosquitto_sub`; killed when dropped.
pub struct Subscriber {
    _child: Child,
    lines: Lines,
}

/// The topic a subscriber is known to be subscribed by.
const READY: &str = "chargebrain-test/ready";

impl Subscriber {
    async fn start(broker: &Broker, topics: &[&str], extra: &[&str]) -> Subscriber {
        let mut cmd = Command::new("mosquitto_sub");
        cmd.args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            // Retained flag, topic, payload: one line per message.
            .args(["-F", "%r %t %p"])
            .args(["-t", READY]);
        for topic in topics {
            cmd.args(["-t", topic]);
        }
        let mut child = cmd
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_sub");
        let lines: Lines = Arc::default();
        keep_lines(child.stdout.take().expect("stdout"), lines.clone());
        let sub = Subscriber {
            _child: child,
            lines,
        };
        // Subscribed once a message sent after the start comes back.
        let deadline = Instant::now() + Duration::from_secs(15);
        while sub.messages().iter().all(|m| m.topic != READY) {
            assert!(Instant::now() < deadline, "mosquitto_sub did not subscribe");
            broker.publish(READY, "1").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sub
    }

    /// Everything received so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|line| {
                let (retained, rest) = line.split_once(' ')?;
                let (topic, payload) = rest.split_once(' ').unwrap_or((rest, ""));
                Some(Message {
                    retained: retained == "1",
                    topic: topic.to_string(),
                    payload: payload.to_string(),
                })
            })
            .collect()
    }

    /// The latest message on `topic`.
    pub fn last(&self, topic: &str) -> Option<Message> {
        self.messages().into_iter().rev().find(|m| m.topic == topic)
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Waits for a message on `topic` for which `done` holds.
    pub async fn wait_for(
        &self,
        topic: &str,
        within: Duration,
        done: impl Fn(&Message) -> bool,
    ) -> Message {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.topic == topic && done(m))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no such message on {topic} within {within:?}; last: {:?}",
                self.last(topic)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
