//! The simulated plant: devices that answer real Modbus on loopback, so the
//! daemon and its tests run with no hardware.

mod bank;
pub mod powerbrain;
mod server;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

pub use bank::{IllegalAddress, RegisterBank};
pub use server::{serve_rtu, serve_tcp, SharedBank, TcpSim};

/// A simulated cFos Power Brain: the EVSE and the two S0 meters, each on
/// its own TCP port as on the real device (base, base+1, base+2).
#[derive(Debug, Clone)]
pub struct PowerBrainSim {
    pub evse: SharedBank,
    pub meter1: SharedBank,
    pub meter2: SharedBank,
    pub evse_addr: SocketAddr,
    pub meter1_addr: SocketAddr,
    pub meter2_addr: SocketAddr,
}

impl PowerBrainSim {
    /// Starts the three servers on 127.0.0.1. With `base_port` 0 each takes
    /// a free port.
    pub async fn start(base_port: u16) -> io::Result<Self> {
        let port = |offset: u16| -> io::Result<SocketAddr> {
            let p = if base_port == 0 {
                0
            } else {
                base_port.checked_add(offset).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "simulation base_port too high")
                })?
            };
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
        };
        let evse = SharedBank::new(powerbrain::evse());
        let meter1 = SharedBank::new(powerbrain::s0_meter(1));
        let meter2 = SharedBank::new(powerbrain::s0_meter(2));
        let evse_addr = serve_tcp(port(0)?, powerbrain::EVSE_UNIT, evse.clone())
            .await?
            .addr;
        let meter1_addr = serve_tcp(port(1)?, powerbrain::METER1_UNIT, meter1.clone())
            .await?
            .addr;
        let meter2_addr = serve_tcp(port(2)?, powerbrain::METER2_UNIT, meter2.clone())
            .await?
            .addr;
        Ok(PowerBrainSim {
            evse,
            meter1,
            meter2,
            evse_addr,
            meter1_addr,
            meter2_addr,
        })
    }
}
