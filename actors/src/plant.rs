//! The running devices: starts one bus actor per endpoint and one device
//! actor per configured Modbus device, and finds them by dev_id or alias.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use slog::Logger;

use crate::devices::{Device, DeviceSettings};
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

    /// Resolves an internal address; other addresses are parsed as written.
    pub fn endpoint(&self, address: &str) -> Result<Endpoint, EndpointError> {
        match self.0.get(&address.trim().to_ascii_lowercase()) {
            Some(addr) => Ok(Endpoint::Tcp(addr.to_string())),
            None => Endpoint::parse(address),
        }
    }
}

/// A configured device: its declaration, and for Modbus devices where it
/// is reached and its actor.
#[derive(Debug, Clone)]
pub struct DeviceHandle {
    pub settings: Arc<DeviceSettings>,
    pub endpoint: Option<Endpoint>,
    pub addr: Option<Addr<Device>>,
}

/// All configured devices, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Plant {
    devices: Vec<DeviceHandle>,
}

impl Plant {
    /// Starts the actors. Must run inside an actix system. Devices that
    /// share an endpoint (one serial line, one TCP gateway) share its bus.
    pub fn start(
        devices: &[DeviceSettings],
        local: &LocalPorts,
        timeout: Duration,
        log: &Logger,
    ) -> Result<Self, EndpointError> {
        let mut buses: HashMap<Endpoint, Addr<Bus>> = HashMap::new();
        let mut handles = Vec::with_capacity(devices.len());
        for settings in devices {
            let settings = Arc::new(settings.clone());
            if !settings.dev_type.is_modbus() {
                handles.push(DeviceHandle {
                    settings,
                    endpoint: None,
                    addr: None,
                });
                continue;
            }
            let endpoint = local.endpoint(&settings.address)?;
            let bus = buses
                .entry(endpoint.clone())
                .or_insert_with(|| Bus::new(endpoint.clone(), log).start())
                .clone();
            let addr = Device::new(settings.clone(), bus, timeout, log).start();
            handles.push(DeviceHandle {
                settings,
                endpoint: Some(endpoint),
                addr: Some(addr),
            });
        }
        Ok(Plant { devices: handles })
    }

    pub fn devices(&self) -> &[DeviceHandle] {
        &self.devices
    }

    /// The device named `name`: its alias or dev_id, case-insensitive.
    pub fn find(&self, name: &str) -> Option<&DeviceHandle> {
        let name = name.trim();
        self.devices.iter().find(|d| {
            d.settings.dev_id.eq_ignore_ascii_case(name)
                || d.settings
                    .alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
    }
}
