//! Settings: `settings.toml` (or the built-in default), then environment
//! overrides `CHARGEBRAIN__SECTION__KEY=value`. Unknown keys and bad values
//! stop the daemon with the key's name; it never starts half-configured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actors::devices::{validate_changed, validate_devices, DeviceSettings};
use actors::sim::plant::SimulationSettings;
use actors::supervisor::SiteParams;
use serde::Deserialize;

/// The shipped `settings.toml`, used when no file is given or found.
pub const DEFAULT_SETTINGS: &str = include_str!("../settings.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub modbus: ModbusSettings,
    #[serde(default)]
    pub simulation: SimulationSettings,
    #[serde(default)]
    pub load: SiteParams,
    #[serde(default)]
    pub storage: StorageSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub site: SiteSettings,
    #[serde(default)]
    pub devices: Vec<DeviceSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address and port of the HTTP API and web page; port 0 picks a free one.
    pub listen: String,
    /// HTTP worker threads (device actors run on their own thread).
    pub workers: usize,
    /// Serve read-only status (`get_dev_info`, `get_params`, …) without the
    /// admin password, as existing clients expect.
    pub public_read: bool,
    /// Host names the daemon is reached by (`Host` header); IP addresses
    /// and `localhost` always work. Any other name is refused, which stops
    /// DNS rebinding.
    pub hosts: Vec<String>,
    /// Open connections one client address may hold; more are refused.
    pub max_connections_per_client: usize,
    /// Open connections in all, kept below the open-file limit.
    pub max_connections: usize,
    /// How long a request's body may take to arrive, s.
    pub body_timeout_s: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".into(),
            workers: 1,
            public_read: true,
            hosts: Vec::new(),
            max_connections_per_client: 256,
            max_connections: 1024,
            body_timeout_s: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModbusSettings {
    /// How long one Modbus request (connect included) may take, in ms.
    pub timeout_ms: u64,
}

impl Default for ModbusSettings {
    fn default() -> Self {
        ModbusSettings { timeout_ms: 1000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Directory for the daemon's state; created at start if missing.
    pub dir: PathBuf,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings { dir: "data".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: LogLevel,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: LogLevel::Info,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteSettings {
    /// Shown as `params.title`.
    pub title: String,
    /// Shown as `params.desc`.
    pub desc: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{key}: {reason}")]
    Field { key: String, reason: String },
}

impl Settings {
    /// Loads `path`, or `./settings.toml` if present, or the built-in default;
    /// then applies `CHARGEBRAIN__*` environment overrides and validates.
    pub fn load(path: Option<&Path>) -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, env)
    }

    fn load_with_env(
        path: Option<&Path>,
        env: Vec<(String, String)>,
    ) -> Result<Self, SettingsError> {
        use config::{Config, Environment, File, FileFormat};
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("settings.toml")).filter(|p| p.exists()),
        };
        let mut builder = Config::builder();
        builder = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| SettingsError::Read {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                builder.add_source(File::from_str(&text, FileFormat::Toml))
            }
            None => builder.add_source(File::from_str(DEFAULT_SETTINGS, FileFormat::Toml)),
        };
        let overrides = Environment::with_prefix("CHARGEBRAIN")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env.into_iter().collect()));
        let settings: Settings = builder
            .add_source(overrides)
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let field = |key: &str, reason: String| SettingsError::Field {
            key: key.to_string(),
            reason,
        };
        self.listen_addr()?;
        if !(1..=64).contains(&self.http.workers) {
            return Err(field(
                "http.workers",
                format!("{} is not 1 to 64", self.http.workers),
            ));
        }
        for host in &self.http.hosts {
            let name = host.trim().trim_end_matches('.');
            let valid = !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid {
                return Err(field(
                    "http.hosts",
                    format!("'{host}' is not a host name (letters, digits, - and ., no port)"),
                ));
            }
        }
        if !(1..=10_000).contains(&self.http.max_connections_per_client) {
            return Err(field(
                "http.max_connections_per_client",
                format!("{} is not 1 to 10000", self.http.max_connections_per_client),
            ));
        }
        if !(16..=1_000_000).contains(&self.http.max_connections) {
            return Err(field(
                "http.max_connections",
                format!("{} is not 16 to 1000000", self.http.max_connections),
            ));
        }
        if !(1..=600).contains(&self.http.body_timeout_s) {
            return Err(field(
                "http.body_timeout_s",
                format!("{} is not 1 to 600", self.http.body_timeout_s),
            ));
        }
        if !(10..=60_000).contains(&self.modbus.timeout_ms) {
            return Err(field(
                "modbus.timeout_ms",
                format!("{} is not 10 to 60000", self.modbus.timeout_ms),
            ));
        }
        self.simulation
            .validate()
            .map_err(|(key, reason)| field(key, reason))?;
        self.load
            .validate()
            .map_err(|(key, reason)| field(&format!("load.{key}"), reason))?;
        validate_devices(&self.devices).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        let all: Vec<String> = self.devices.iter().map(|d| d.dev_id.clone()).collect();
        validate_changed(&self.devices, &all, &|d| {
            Ok(d.dev_type
                .is_modbus()
                .then(|| d.address.trim().to_ascii_lowercase()))
        })
        .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        actors::store::check_formula_names(&self.load, &self.devices, &[])
            .map_err(SettingsError::Invalid)
    }

    /// The HTTP listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.http.listen.parse().map_err(|_| SettingsError::Field {
            key: "http.listen".into(),
            reason: format!(
                "'{}' is not an address like 127.0.0.1:8080",
                self.http.listen
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
        let dir = std::env::temp_dir().join(format!("chargebrain-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{}.toml", toml.len() + env.len() * 1000));
        std::fs::write(&path, toml).map_err(|e| e.to_string())?;
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Some(&path), env).map_err(|e| e.to_string())
    }

    /// Settings text, environment overrides, and what the error must name.
    type BadSettingsCase = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    #[test]
    fn the_shipped_settings_parse() {
        let s = load(DEFAULT_SETTINGS, &[]).unwrap();
        assert!(s.simulation.enabled);
        let ids: Vec<&str> = s.devices.iter().map(|d| d.dev_id.as_str()).collect();
        assert_eq!(ids, ["E1", "E2", "M1", "M2", "M3"]);
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = load(
            DEFAULT_SETTINGS,
            &[
                ("CHARGEBRAIN__HTTP__LISTEN", "127.0.0.1:18080"),
                ("CHARGEBRAIN__SIMULATION__ENABLED", "false"),
                ("CHARGEBRAIN__SIMULATION__BASE_PORT", "14701"),
                ("CHARGEBRAIN__STORAGE__DIR", "/tmp/cb"),
            ],
        )
        .unwrap();
        assert_eq!(s.http.listen, "127.0.0.1:18080");
        assert!(!s.simulation.enabled);
        assert_eq!(s.simulation.base_port, 14701);
        assert_eq!(s.storage.dir, PathBuf::from("/tmp/cb"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases: [BadSettingsCase; 7] = [
            ("[http]\nlisten = \"nowhere\"\n", &[], "http.listen"),
            ("[http]\nlisen = \"127.0.0.1:1\"\n", &[], "lisen"),
            ("[modbus]\ntimeout_ms = \"soon\"\n", &[], "timeout_ms"),
            ("", &[("CHARGEBRAIN__MODBUS__TIMEOUT_MS", "5")], "modbus.timeout_ms"),
            ("", &[("CHARGEBRAIN__SIMULATION__ENABLD", "true")], "enabld"),
            ("[log]\nformat = \"xml\"\n", &[], "xml"),
            (
                "[[devices]]\ndev_id = \"X1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\n",
                &[],
                "devices[0].dev_id",
            ),
        ];
        for (toml, env, key) in cases {
            let err = load(toml, env).expect_err(toml);
            assert!(err.contains(key), "{err:?} should name {key}");
        }
    }
}
