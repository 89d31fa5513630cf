//! Running under systemd (`Type=notify`): the sd_notify protocol, which is
//! one datagram of `KEY=VALUE` lines to the Unix socket named in
//! `NOTIFY_SOCKET`. Written here rather than taken from a crate: it is a
//! few lines of std, and the part that matters (when to stop the watchdog)
//! is ours either way.
//!
//! READY=1 once the API listens and the devices are started; WATCHDOG=1 at
//! half of `WATCHDOG_USEC` while the cycle runs, so systemd restarts a
//! daemon whose cycle hangs, not only one that died; STATUS= with the cycle,
//! the devices and the cars charging.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

use actors::supervisor::CycleHealth;
use slog::{info, warn, Logger};

/// How often STATUS= is refreshed when systemd asks for no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// The socket systemd listens on, and the watchdog it expects.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    /// `WATCHDOG_USEC`, if it is meant for this process.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd sets; `None` when not started by
    /// systemd as `Type=notify` (then there is nobody to tell).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let watchdog = watchdog_from(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        let address = socket_address(path.as_encoded_bytes())?;
        let socket = UnixDatagram::unbound()?;
        Ok(Some(Notifier {
            socket,
            address,
            watchdog,
        }))
    }

    /// Sends one message (`READY=1`, `WATCHDOG=1\nSTATUS=…`).
    pub fn notify(&self, message: &str) -> io::Result<()> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.address)
            .map(|_| ())
    }

    /// How often to ping: half the watchdog timeout, as systemd advises.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }
}

/// The watchdog timeout, unless it is unset, not a number, 0, or meant
/// for another process (`WATCHDOG_PID`).
fn watchdog_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// A path, or `@name` for a socket in the abstract namespace.
fn socket_address(path: &[u8]) -> io::Result<SocketAddr> {
    match path.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)
        }
        Some((b'/', _)) => {
            use std::os::unix::ffi::OsStrExt;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is neither an absolute path nor @name",
        )),
    }
}

/// Tells systemd the daemon is ready, then keeps the watchdog and the
/// status going from the actix runtime. The watchdog is pinged only while
/// the cycle has run within its last three periods: a cycle that hangs
/// stops the pings, and systemd restarts the daemon after `WatchdogSec`.
pub fn ready(notifier: Arc<Notifier>, health: Arc<CycleHealth>, log: &Logger) {
    let status = health.status_line();
    if let Err(e) = notifier.notify(&format!("READY=1\nSTATUS={status}")) {
        warn!(log, "cannot tell systemd the daemon is ready"; "error" => %e);
    }
    let every = notifier.ping_every();
    info!(log, "systemd notified"; "watchdog_s" => every.map_or(0.0, |e| (e * 2).as_secs_f64()));
    let log = log.clone();
    actix::spawn(async move {
        let mut tick = tokio::time::interval(every.unwrap_or(STATUS_EVERY));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut stalled, mut failing) = (false, false);
        loop {
            tick.tick().await;
            let status = health.status_line();
            let alive = health.alive();
            let message = if alive && every.is_some() {
                format!("WATCHDOG=1\nSTATUS={status}")
            } else {
                format!("STATUS={status}")
            };
            if !alive && !stalled {
                slog::error!(log, "the load-management cycle has stalled; systemd's watchdog, if set, is no longer pinged";
                    "since_s" => health.since_last_cycle().as_secs());
            }
            stalled = !alive;
            // Said once, not at every tick.
            match notifier.notify(&message) {
                Err(e) if !failing => {
                    warn!(log, "cannot notify systemd"; "error" => %e);
                    failing = true;
                }
                Err(_) => {}
                Ok(()) => failing = false,
            }
        }
    });
}

/// Tells systemd the daemon is stopping.
pub fn stopping(notifier: Option<&Notifier>) {
    if let Some(n) = notifier {
        let _ = n.notify("STOPPING=1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_for_this_process_only() {
        let two_s = Some(Duration::from_secs(2));
        assert_eq!(watchdog_from(Some("2000000"), None, 7), two_s);
        assert_eq!(watchdog_from(Some("2000000"), Some("7"), 7), two_s);
        assert_eq!(watchdog_from(Some("2000000"), Some("8"), 7), None);
        assert_eq!(watchdog_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_from(Some("soon"), None, 7), None);
        assert_eq!(watchdog_from(None, None, 7), None);
    }

    #[test]
    fn a_message_reaches_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let address = socket_address(path.as_os_str().as_encoded_bytes()).unwrap();
        let n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            address,
            watchdog: None,
        };
        n.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        let name = format!("@chargebrain-test-{}", std::process::id());
        let address = socket_address(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&address).unwrap();
        let n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            address,
            watchdog: None,
        };
        n.notify("WATCHDOG=1").unwrap();
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");

        assert!(socket_address(b"relative").is_err());
    }
}
