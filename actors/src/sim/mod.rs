//! The simulated plant: devices that answer real Modbus on loopback, so the
//! daemon and its tests run with no hardware.

mod bank;
pub mod closed_loop;
pub mod house;
pub mod meters;
pub mod ocpp_point;
pub mod powerbrain;
pub mod rng;
mod server;
pub mod site_model;

pub use bank::{IllegalAddress, RegisterBank};
pub use server::{serve_on_loopback, serve_rtu, serve_tcp, SharedBank, TcpSim};
