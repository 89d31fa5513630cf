//! The running devices: starts one bus actor per endpoint and one device
//! actor per configured Modbus device, and finds them by dev_id or alias.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Handler, Message, Recipient};
use slog::Logger;

use crate::config::DeviceSettings;
use crate::devices::{Device, HttpInput, HttpJsonMeter, Shutdown, UpdateSettings};
use crate::metrics::Metrics;
use crate::ocpp::OcppWallbox;
use crate::transport::{Bus, Endpoint, EndpointError};

/// Where the internal addresses point: `evse`, `meter1`, `meter2` (the
/// local Power Brain), and with the simulated plant also `evse2`…, `grid`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalPorts(pub BTreeMap<String, SocketAddr>);

impl LocalPorts {
    /// The local Power Brain's ports base, base+1, base+2 on 127.0.0.1.
    pub fn from_base(base_port: u16) -> Self {
        let at =
            |offset: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, base_port.saturating_add(offset)));
        LocalPorts(BTreeMap::from([
            ("evse".to_string(), at(0)),
            ("meter1".to_string(), at(1)),
            ("meter2".to_string(), at(2)),
        ]))
    }

    /// Where a Modbus device is reached, in one spelling (see
    /// `Plant::endpoint_key`).
    pub fn endpoint_key(&self, settings: &DeviceSettings) -> Result<Option<String>, EndpointError> {
        if settings.dev_type.is_ocpp() {
            // One wallbox per charge point and connector.
            return Ok(Some(format!("ocpp:{}", settings.address.trim())));
        }
        if !settings.dev_type.is_modbus() {
            return Ok(None);
        }
        Ok(Some(match self.endpoint(&settings.address)? {
            Endpoint::Tcp(address) => canonical_tcp(&address),
            Endpoint::Serial(line) => line.path,
        }))
    }

    /// Resolves an internal address; other addresses are parsed as written.
    pub fn endpoint(&self, address: &str) -> Result<Endpoint, EndpointError> {
        match self.0.get(&address.trim().to_ascii_lowercase()) {
            Some(addr) => Ok(Endpoint::Tcp(addr.to_string())),
            None => Endpoint::parse(address),
        }
    }
}

/// `host:port` with loopback and IPv4-mapped IPv6 spelled one way; other
/// host names as written (no name lookup here).
fn canonical_tcp(address: &str) -> String {
    let address = address.trim().to_ascii_lowercase();
    if let Ok(parsed) = address.parse::<SocketAddr>() {
        let ip = match parsed.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        return SocketAddr::new(ip, parsed.port()).to_string();
    }
    match address.rsplit_once(':') {
        Some(("localhost", port)) => format!("127.0.0.1:{port}"),
        _ => address,
    }
}

/// The actor behind a device.
#[derive(Debug, Clone)]
pub enum DeviceActor {
    /// Polled over Modbus.
    Modbus(Addr<Device>),
    /// Pushed over HTTP.
    Http(Addr<HttpInput>),
    /// Asked over HTTP, answering JSON.
    Json(Addr<HttpJsonMeter>),
    /// An OCPP charge point's connector.
    Ocpp(Addr<OcppWallbox>),
    /// Nothing to talk to (an `evse_group`).
    None,
}

/// A configured device: its declaration, where it is reached, its actor.
#[derive(Debug, Clone)]
pub struct DeviceHandle {
    pub settings: Arc<DeviceSettings>,
    pub endpoint: Option<Endpoint>,
    pub actor: DeviceActor,
}

impl DeviceHandle {
    /// The Modbus device actor, for `cmd=modbus`.
    pub fn modbus(&self) -> Option<&Addr<Device>> {
        match &self.actor {
            DeviceActor::Modbus(addr) => Some(addr),
            DeviceActor::Http(_)
            | DeviceActor::Json(_)
            | DeviceActor::Ocpp(_)
            | DeviceActor::None => None,
        }
    }

    /// The HTTP-input actor, for `set_ajax_*`.
    pub fn http_input(&self) -> Option<&Addr<HttpInput>> {
        match &self.actor {
            DeviceActor::Http(addr) => Some(addr),
            DeviceActor::Modbus(_)
            | DeviceActor::Json(_)
            | DeviceActor::Ocpp(_)
            | DeviceActor::None => None,
        }
    }

    /// The OCPP wallbox actor, for its charge point's connection.
    pub fn ocpp(&self) -> Option<&Addr<OcppWallbox>> {
        match &self.actor {
            DeviceActor::Ocpp(addr) => Some(addr),
            DeviceActor::Modbus(_)
            | DeviceActor::Http(_)
            | DeviceActor::Json(_)
            | DeviceActor::None => None,
        }
    }

    /// Where to send the device a message its actor answers, whichever kind
    /// of actor it is (`None` for a device without one).
    pub fn recipient<M>(&self) -> Option<Recipient<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Device: Handler<M>,
        HttpInput: Handler<M>,
        HttpJsonMeter: Handler<M>,
        OcppWallbox: Handler<M>,
    {
        match &self.actor {
            DeviceActor::Modbus(addr) => Some(addr.clone().recipient()),
            DeviceActor::Http(addr) => Some(addr.clone().recipient()),
            DeviceActor::Json(addr) => Some(addr.clone().recipient()),
            DeviceActor::Ocpp(addr) => Some(addr.clone().recipient()),
            DeviceActor::None => None,
        }
    }

    /// Gives the running actor new settings of the same box.
    fn update(&self, settings: Arc<DeviceSettings>) {
        if let Some(actor) = self.recipient() {
            actor.do_send(UpdateSettings(settings));
        }
    }

    /// Stops the device's actor (its interval timers would keep it alive).
    fn stop(&self) {
        if let Some(actor) = self.recipient() {
            actor.do_send(Shutdown);
        }
    }
}

/// Whether two declarations are the same box: the same type at the same
/// address and unit id.
pub fn same_box(a: &DeviceSettings, b: &DeviceSettings) -> bool {
    (a.dev_type, a.address.trim(), a.id) == (b.dev_type, b.address.trim(), b.id)
}

/// All configured devices, in declaration order, and what it takes to
/// start more.
#[derive(Debug, Clone)]
pub struct Plant {
    /// Shared, so that a copy of the plant (the one published to the API
    /// after every change) costs a pointer per device.
    devices: Vec<Arc<DeviceHandle>>,
    buses: HashMap<Endpoint, Addr<Bus>>,
    local: LocalPorts,
    timeout: Duration,
    /// What the devices and the cycle count, for `/metrics`.
    metrics: Arc<Metrics>,
    log: Logger,
}

impl Plant {
    /// Starts the actors. Must run inside an actix system. Devices that
    /// share an endpoint (one serial line, one TCP gateway) share its bus.
    pub fn start(
        devices: &[Arc<DeviceSettings>],
        local: &LocalPorts,
        timeout: Duration,
        log: &Logger,
    ) -> Result<Self, EndpointError> {
        let mut plant = Plant {
            devices: Vec::with_capacity(devices.len()),
            buses: HashMap::new(),
            local: local.clone(),
            timeout,
            metrics: Arc::new(Metrics::default()),
            log: log.clone(),
        };
        for settings in devices {
            let handle = plant.spawn(settings)?;
            plant.devices.push(Arc::new(handle));
        }
        Ok(plant)
    }

    /// Checks that a device's address can be used, without starting it.
    /// Where a Modbus device is reached, as one text for every way of
    /// writing it (`evse`, `127.0.0.1:4701`, `localhost:4701` are one
    /// place); `None` for a device without Modbus. An address that does
    /// not parse is an error.
    pub fn endpoint_key(&self, settings: &DeviceSettings) -> Result<Option<String>, EndpointError> {
        self.local.endpoint_key(settings)
    }

    fn spawn(&mut self, settings: &Arc<DeviceSettings>) -> Result<DeviceHandle, EndpointError> {
        let settings = settings.clone();
        if !settings.dev_type.is_modbus() {
            let actor = if settings.dev_type.is_http_input() {
                DeviceActor::Http(HttpInput::new(settings.clone(), &self.log).start())
            } else if let Some(meter) = settings.dev_type.http_json() {
                let meter = HttpJsonMeter::new(settings.clone(), meter, self.timeout, &self.log);
                DeviceActor::Json(meter.start())
            } else if settings.dev_type.is_ocpp() {
                DeviceActor::Ocpp(OcppWallbox::new(settings.clone(), &self.log).start())
            } else {
                DeviceActor::None
            };
            return Ok(DeviceHandle {
                settings,
                endpoint: None,
                actor,
            });
        }
        let endpoint = self.local.endpoint(&settings.address)?;
        let log = &self.log;
        let bus = self
            .buses
            .entry(endpoint.clone())
            .or_insert_with(|| Bus::new(endpoint.clone(), log).start())
            .clone();
        let addr = Device::new(settings.clone(), bus, self.timeout, log)
            .with_metrics(self.metrics.clone())
            .start();
        Ok(DeviceHandle {
            settings,
            endpoint: Some(endpoint),
            actor: DeviceActor::Modbus(addr),
        })
    }

    /// Makes the running devices match `devices`: new ones start, removed
    /// ones stop, and those that are another box now (another type, address
    /// or unit id) or are named in `restart` get a fresh actor. A device
    /// whose name, limits or rules changed keeps its actor, which takes the
    /// new settings. Answers the dev_ids that were (re)started.
    pub fn reconcile(
        &mut self,
        devices: &[Arc<DeviceSettings>],
        restart: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        // Where each device was: in the same place when the list names the
        // same devices in the same order (a change of some of them), else
        // found by dev_id (a site may have thousands of devices).
        let aligned = self.devices.len() == devices.len()
            && self.devices.iter().zip(devices).all(|(old, new)| {
                Arc::ptr_eq(&old.settings, new) || old.settings.dev_id == new.dev_id
            });
        let was: Vec<Option<usize>> = if aligned {
            (0..devices.len()).map(Some).collect()
        } else {
            let at: HashMap<&str, usize> = self
                .devices
                .iter()
                .enumerate()
                .map(|(i, d)| (d.settings.dev_id.as_str(), i))
                .collect();
            devices
                .iter()
                .map(|d| at.get(d.dev_id.as_str()).copied())
                .collect()
        };
        let restart: HashSet<&str> = restart.iter().map(String::as_str).collect();
        let mut next = Vec::with_capacity(devices.len());
        let mut started = Vec::new();
        let mut kept_actor = vec![false; self.devices.len()];
        for (settings, was) in devices.iter().zip(was) {
            match was {
                Some(i)
                    if same_box(&self.devices[i].settings, settings)
                        && !restart.contains(settings.dev_id.as_str()) =>
                {
                    let mut kept = self.devices[i].clone();
                    // A device the change did not touch is the same allocation.
                    if !Arc::ptr_eq(&kept.settings, settings) && *kept.settings != **settings {
                        let handle = Arc::make_mut(&mut kept);
                        handle.settings = settings.clone();
                        handle.update(settings.clone());
                    }
                    kept_actor[i] = true;
                    next.push(kept);
                }
                _ => {
                    next.push(Arc::new(self.spawn(settings)?));
                    started.push(settings.dev_id.clone());
                }
            }
        }
        let mut stopped = false;
        for (old, kept) in self.devices.iter().zip(kept_actor) {
            if !kept {
                old.stop();
                stopped = true;
            }
        }
        self.devices = next;
        if stopped {
            // A bus whose last device went away stops with it.
            let used: HashSet<&Endpoint> = self
                .devices
                .iter()
                .filter_map(|d| d.endpoint.as_ref())
                .collect();
            self.buses.retain(|endpoint, _| used.contains(endpoint));
        }
        Ok(started)
    }

    pub fn devices(&self) -> &[Arc<DeviceHandle>] {
        &self.devices
    }

    /// What the devices and the cycle count, for `/metrics`.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The OCPP wallbox whose charge point id is `id` (as written, case
    /// and all: the charge point's URL names it).
    pub fn charge_point(&self, id: &str) -> Option<&DeviceHandle> {
        self.devices
            .iter()
            .find(|d| d.settings.dev_type.is_ocpp() && d.settings.address.trim() == id)
            .map(Arc::as_ref)
    }

    /// The device named `name`: its alias or dev_id, case-insensitive.
    pub fn find(&self, name: &str) -> Option<&DeviceHandle> {
        let name = name.trim();
        self.devices
            .iter()
            .find(|d| {
                d.settings.dev_id.eq_ignore_ascii_case(name)
                    || d.settings
                        .alias
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(name))
            })
            .map(Arc::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_endpoint_has_one_key_however_it_is_written() {
        let local = LocalPorts::from_base(4701);
        let key = |address: &str| {
            let settings: DeviceSettings = toml::from_str(&format!(
                "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"{address}\"\n"
            ))
            .unwrap();
            local.endpoint_key(&settings).unwrap()
        };
        let evse = key("evse");
        assert_eq!(evse.as_deref(), Some("127.0.0.1:4701"));
        for same in [
            "EVSE",
            "127.0.0.1:4701",
            "localhost:4701",
            "[::ffff:127.0.0.1]:4701",
        ] {
            assert_eq!(key(same), evse, "{same}");
        }
        assert_ne!(key("127.0.0.1:4702"), evse);
    }
}
