//! The simulated plant: devices that answer real Modbus on loopback, so the
//! daemon and its tests run with no hardware.

mod bank;
pub mod meters;
pub mod plant;
pub mod powerbrain;
mod server;

pub use bank::{IllegalAddress, RegisterBank};
pub use server::{serve_rtu, serve_tcp, SharedBank, TcpSim};
