//! The MQTT connection's state, shared between the client and the API
//! (`get_dev_info` shows it under `params.mqtt`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::settings::MqttSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// No `[mqtt] url`.
    Off,
    Connecting,
    Connected,
    /// Lost or refused; it tries again after a pause.
    Disconnected,
}

/// What `params.mqtt` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusView {
    pub state: Connection,
    /// The broker, without credentials; empty when off.
    pub broker: String,
    /// Unix seconds of the last change of `state`.
    pub since: u64,
    /// Why the last connection ended or was refused; empty if none did.
    pub last_error: String,
    /// Connections made since the start.
    pub connects: u64,
    /// Messages published since the start.
    pub published: u64,
    /// Messages taken in (`set/`, `api/`, Home Assistant's commands).
    pub received: u64,
    /// The settings in force (`[mqtt]`; the credentials are never shown).
    pub prefix: String,
    pub interval_ms: u64,
    pub homeassistant: bool,
    pub allow_api_writes: bool,
}

/// The status, updated by the client and read by the API.
#[derive(Debug, Clone)]
pub struct Status(Arc<Mutex<StatusView>>);

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    pub fn new(settings: &MqttSettings) -> Self {
        let status = Status(Arc::new(Mutex::new(StatusView {
            state: Connection::Off,
            broker: String::new(),
            since: now_s(),
            last_error: String::new(),
            connects: 0,
            published: 0,
            received: 0,
            prefix: String::new(),
            interval_ms: 0,
            homeassistant: false,
            allow_api_writes: false,
        })));
        status.reconfigure(settings);
        status
    }

    /// New settings in force: the connection starts afresh (the counts
    /// go on).
    pub fn reconfigure(&self, settings: &MqttSettings) {
        let state = if settings.enabled() {
            Connection::Connecting
        } else {
            Connection::Off
        };
        let broker = if settings.enabled() {
            settings.broker().map(|b| b.display()).unwrap_or_default()
        } else {
            String::new()
        };
        self.with(|v| {
            v.state = state;
            v.broker = broker;
            v.since = now_s();
            v.last_error = String::new();
            v.prefix = settings.prefix.clone();
            v.interval_ms = settings.interval_ms;
            v.homeassistant = settings.homeassistant;
            v.allow_api_writes = settings.allow_api_writes;
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut StatusView) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn view(&self) -> StatusView {
        self.with(|v| v.clone())
    }

    pub fn connected(&self) -> bool {
        self.with(|v| v.state == Connection::Connected)
    }

    pub fn set_connected(&self) {
        self.with(|v| {
            v.state = Connection::Connected;
            v.since = now_s();
            v.connects += 1;
        });
    }

    pub fn set_disconnected(&self, error: &str) {
        self.with(|v| {
            if v.state != Connection::Disconnected {
                v.since = now_s();
            }
            v.state = Connection::Disconnected;
            v.last_error = error.to_string();
        });
    }

    pub fn count_published(&self, n: u64) {
        self.with(|v| v.published += n);
    }

    pub fn count_received(&self) {
        self.with(|v| v.received += 1);
    }
}
