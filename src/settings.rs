//! Settings: `settings.toml` (or the built-in default), then environment
//! overrides `CHARGEBRAIN__SECTION__KEY=value`. Unknown keys and bad values
//! stop the daemon with the key's name; it never starts half-configured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actors::config::{changed_problems, device_problems, DeviceSettings, SiteParams};
use actors::plant::LocalPorts;
use actors::sim::closed_loop::SimulationSettings;
use serde::Deserialize;

use crate::mqtt::MqttSettings;

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
    pub ocpp: OcppSettings,
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
    pub devices: Vec<std::sync::Arc<DeviceSettings>>,
    #[serde(default)]
    pub mqtt: MqttSettings,
}

/// `[definitions]`: read before the devices, which may name their types.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefinitionSettings {
    /// A directory of device definitions (`*.toml`) to use besides the
    /// shipped ones; each is a device type `meter_<name>`/`evse_<name>`.
    pub dir: Option<PathBuf>,
}

/// The OCPP 1.6J endpoint (`/ocpp/<chargePointId>`), which is always on
/// the HTTP port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcppSettings {
    /// Another address to serve it on as well (cFos uses port 19520);
    /// empty = the HTTP port only.
    pub listen: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let at = actors::keyword::one_of(d, "value", &["text", "json"])?;
        Ok([LogFormat::Text, LogFormat::Json][at])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use LogLevel::{Debug, Error, Info, Trace, Warn};
        let names = &["error", "warn", "info", "debug", "trace"];
        let at = actors::keyword::one_of(d, "value", names)?;
        Ok([Error, Warn, Info, Debug, Trace][at])
    }
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
    /// Every problem found, each naming its key.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The top-level sections of the settings.
const SECTIONS: [&str; 10] = [
    "http",
    "modbus",
    "simulation",
    "load",
    "storage",
    "log",
    "site",
    "devices",
    "mqtt",
    "definitions",
];

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
        let merged = builder
            .add_source(overrides)
            .build()
            .map_err(|e| SettingsError::Invalid(vec![e.to_string()]))?;
        let settings = Self::from_sections(merged.cache).map_err(SettingsError::Invalid)?;
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError::Invalid(problems))
        }
    }

    /// Reads each section, and each `[[devices]]` entry, on its own, so
    /// that every section's problem is reported, not only the first.
    fn from_sections(merged: config::Value) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut table = merged.into_table().map_err(|e| vec![e.to_string()])?;
        // The definitions first: they are device types the devices name.
        let definitions = match table.remove("definitions") {
            Some(value) => section_of::<DefinitionSettings>("definitions", value)
                .map_err(|problem| vec![problem])?,
            None => DefinitionSettings::default(),
        };
        actors::drivers::definition::install(definitions.dir.as_deref())
            .map_err(|e| vec![e.to_string()])?;
        let mut settings = Settings {
            http: HttpSettings::default(),
            modbus: ModbusSettings::default(),
            ocpp: OcppSettings::default(),
            simulation: SimulationSettings::default(),
            load: SiteParams::default(),
            storage: StorageSettings::default(),
            log: LogSettings::default(),
            site: SiteSettings::default(),
            devices: Vec::new(),
            mqtt: MqttSettings::default(),
        };
        for (section, value) in table {
            let read = match section.as_str() {
                "http" => section_of(&section, value).map(|s| settings.http = s),
                "modbus" => section_of(&section, value).map(|s| settings.modbus = s),
                "ocpp" => section_of(&section, value).map(|s| settings.ocpp = s),
                "simulation" => section_of(&section, value).map(|s| settings.simulation = s),
                "load" => section_of(&section, value).map(|s| settings.load = s),
                "storage" => section_of(&section, value).map(|s| settings.storage = s),
                "log" => section_of(&section, value).map(|s| settings.log = s),
                "site" => section_of(&section, value).map(|s| settings.site = s),
                "mqtt" => section_of(&section, value).map(|s| settings.mqtt = s),
                "devices" => match value.into_array() {
                    Ok(entries) => {
                        for (i, entry) in entries.into_iter().enumerate() {
                            match section_of(&format!("devices[{}]", i + 1), entry) {
                                Ok(device) => settings.devices.push(device),
                                Err(problem) => problems.push(problem),
                            }
                        }
                        Ok(())
                    }
                    Err(_) => Err("devices: expected [[devices]] entries".into()),
                },
                other => Err(format!(
                    "{other}: unknown section; known sections: {}",
                    SECTIONS.join(", ")
                )),
            };
            if let Err(problem) = read {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }

    /// Every problem of settings that were read: ranges, devices, formulas.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = self.listen_addr() {
            out.push(e);
        }
        if !(1..=64).contains(&self.http.workers) {
            out.push(format!(
                "http.workers: {} is not 1 to 64",
                self.http.workers
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
                out.push(format!(
                    "http.hosts: '{host}' is not a host name (letters, digits, - and ., no port)"
                ));
            }
        }
        if !(1..=10_000).contains(&self.http.max_connections_per_client) {
            out.push(format!(
                "http.max_connections_per_client: {} is not 1 to 10000",
                self.http.max_connections_per_client
            ));
        }
        if !(16..=1_000_000).contains(&self.http.max_connections) {
            out.push(format!(
                "http.max_connections: {} is not 16 to 1000000",
                self.http.max_connections
            ));
        }
        if !(1..=600).contains(&self.http.body_timeout_s) {
            out.push(format!(
                "http.body_timeout_s: {} is not 1 to 600",
                self.http.body_timeout_s
            ));
        }
        if !(10..=60_000).contains(&self.modbus.timeout_ms) {
            out.push(format!(
                "modbus.timeout_ms: {} is not 10 to 60000",
                self.modbus.timeout_ms
            ));
        }
        out.extend(
            self.simulation
                .problems()
                .into_iter()
                .map(|(key, reason)| format!("{key}: {reason}")),
        );
        out.extend(
            self.mqtt
                .problems()
                .into_iter()
                .map(|(key, reason)| format!("mqtt.{key}: {reason}")),
        );
        out.extend(
            self.load
                .problems()
                .into_iter()
                .map(|(key, reason)| format!("load.{key}: {reason}")),
        );
        let device_problems = device_problems(&self.devices);
        out.extend(device_problems.iter().map(ToString::to_string));
        if device_problems.is_empty() {
            let local = self.local_addresses();
            let endpoint = |d: &DeviceSettings| local.endpoint_key(d).map_err(|e| e.to_string());
            // Each entry as if it were added now (an address that parses,
            // one wallbox per address and unit…).
            let mut parsed = Vec::with_capacity(self.devices.len());
            for (i, d) in self.devices.iter().enumerate() {
                if let Err(e) = endpoint(d) {
                    let simulated = SimulationSettings {
                        wallboxes: 200,
                        grid_meter: true,
                        ..SimulationSettings::default()
                    };
                    let hint = if simulated
                        .device_names()
                        .contains(&d.address.trim().to_ascii_lowercase())
                    {
                        " (a device of the simulated plant, which is off)"
                    } else {
                        ""
                    };
                    out.push(format!("devices[{}].address: {e}{hint}", i + 1));
                    continue;
                }
                parsed.push(d.dev_id.clone());
            }
            out.extend(
                changed_problems(&self.devices, &parsed, &endpoint)
                    .iter()
                    .map(ToString::to_string),
            );
            out.extend(actors::config::settings_formula_problems(
                &self.load,
                &self.devices,
            ));
        }
        out
    }

    /// The internal addresses (`evse`, `meter1`, … and with the simulated
    /// plant `evse2`, `grid`) as the daemon will resolve them.
    fn local_addresses(&self) -> LocalPorts {
        if !self.simulation.enabled {
            return LocalPorts::from_base(self.simulation.base_port);
        }
        // The plant may take free ports: stand-ins keep the names apart.
        let names = self.simulation.device_names().into_iter();
        LocalPorts(
            names
                .zip(1..)
                .map(|(name, port)| (name, SocketAddr::from(([127, 0, 0, 1], port))))
                .collect(),
        )
    }

    /// The HTTP listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.http.listen.parse().map_err(|_| {
            format!(
                "http.listen: '{}' is not an address like 127.0.0.1:8080",
                self.http.listen
            )
        })
    }
}

/// Reads one section (or `[[devices]]` entry) named `at`; an error names
/// the key in the settings' own terms.
fn section_of<T: serde::de::DeserializeOwned>(at: &str, value: config::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            at.to_string()
        } else {
            format!("{at}.{}", one_based(&path))
        };
        user_words(&key, &inner)
    })
}

/// `cars[0].phases` → `cars[1].phases`: entries count from 1, as people do.
fn one_based(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..=open]);
        match rest[open + 1..close].parse::<usize>() {
            Ok(n) => out.push_str(&(n + 1).to_string()),
            Err(_) => out.push_str(&rest[open + 1..close]),
        }
        out.push(']');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A deserializer's message in the settings' terms: `key: what is wrong`.
fn user_words(key: &str, inner: &str) -> String {
    // The config library appends where it looked; the key says it better.
    let inner = inner.split(" for key `").next().unwrap_or(inner);
    let unquote = |s: &str| s.replace('`', "");
    // The path may or may not end with the field the message names.
    let at = |field: &str| {
        if key.ends_with(&format!(".{field}")) {
            key.to_string()
        } else {
            format!("{key}.{field}")
        }
    };
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let (field, known) = rest.split_once('`').unwrap_or((rest, ""));
        let key = at(field);
        return match known.strip_prefix(", expected one of ") {
            Some(list) => format!("{key}: unknown key; known keys: {}", unquote(list)),
            None => match known.strip_prefix(", expected ") {
                Some(one) => format!("{key}: unknown key; the known key is {}", unquote(one)),
                None => format!("{key}: unknown key"),
            },
        };
    }
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return format!("{}: missing", at(field));
    }
    if let Some(rest) = inner.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("{key}: expected {expected}, found {found}");
        }
    }
    format!("{key}: {}", unquote(inner))
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
        assert_eq!(ids, ["E1", "E2", "M1", "M2", "M3", "E4"]);
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = load(
            DEFAULT_SETTINGS,
            &[
                ("CHARGEBRAIN__HTTP__LISTEN", "127.0.0.1:18080"),
                ("CHARGEBRAIN__HTTP__PUBLIC_READ", "false"),
                ("CHARGEBRAIN__SIMULATION__BASE_PORT", "14701"),
                ("CHARGEBRAIN__STORAGE__DIR", "/tmp/cb"),
            ],
        )
        .unwrap();
        assert_eq!(s.http.listen, "127.0.0.1:18080");
        assert!(!s.http.public_read);
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
                "devices[1].dev_id",
            ),
        ];
        for (toml, env, key) in cases {
            let err = load(toml, env).expect_err(toml);
            assert!(err.contains(key), "{err:?} should name {key}");
        }
    }

    #[test]
    fn the_readme_s_first_settings_for_real_hardware_are_valid() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\n[http]\nlisten = \"0.0.0.0:8080\"")
            .expect("the example in \"Using real hardware\"")
            + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("its end");
        let s = load(&readme[start..end], &[]).unwrap();
        assert!(!s.simulation.enabled && !s.load.lb_enabled);
        assert_eq!(s.devices.len(), 2);
    }

    #[test]
    fn the_simulated_plant_s_addresses_need_the_simulated_plant() {
        let err = load(
            DEFAULT_SETTINGS,
            &[("CHARGEBRAIN__SIMULATION__ENABLED", "false")],
        )
        .expect_err("evse2 and grid are simulated");
        assert!(
            err.contains("devices[2].address: bad device address 'evse2'")
                && err.contains("(a device of the simulated plant, which is off)"),
            "{err}"
        );
    }

    #[test]
    fn errors_speak_the_settings_language_and_all_are_reported() {
        // The shipped file with a seventh device of a type that does not exist.
        let typo = format!(
            "{DEFAULT_SETTINGS}\n[[devices]]\ndev_id = \"M4\"\ndev_type = \"meter_sdm360\"\naddress = \"grid\"\n"
        );
        let err = load(&typo, &[]).expect_err("unknown type");
        assert!(
            err.starts_with(
                "devices[7].dev_type: unknown type \"meter_sdm360\"; known types: evse_powerbrain, meter_powerbrain, evse_group,"
            ),
            "{err}"
        );
        let many = "[http]\nworkers = 0\nlisen = 1\n[modbus]\ntimeout_ms = \"soon\"\n[log]\nlevel = \"loud\"\n\
                    [load]\nvoltage = 5\ncycle_time_ms = 1\n";
        let err = load(many, &[]).expect_err("several problems");
        for says in [
            "http.lisen: unknown key; known keys: listen, workers, public_read",
            "modbus.timeout_ms: expected",
            "log.level: unknown value \"loud\"; known values: error, warn, info, debug, trace",
        ] {
            assert!(err.contains(says), "{err:?} should say {says:?}");
        }
        // Once every section reads, every range is checked.
        let err = load(
            "[http]\nworkers = 0\n[load]\nvoltage = 5\ncycle_time_ms = 1\n",
            &[],
        )
        .expect_err("ranges");
        for says in [
            "http.workers: 0 is not 1 to 64",
            "load.cycle_time_ms: 1 is not 100 to 60000",
            "load.voltage: 5 V is not 100 to 400",
        ] {
            assert!(err.contains(says), "{err:?} should say {says:?}");
        }
    }
}
