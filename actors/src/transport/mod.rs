//! Modbus transport: the only place (besides the simulator) that speaks
//! tokio-modbus. A [`Bus`] actor owns one connection (a TCP endpoint or a
//! serial line) and serialises every request on it.

mod bus;
mod endpoint;
mod error;

pub use bus::{Bus, BusRequest, Op};
pub use endpoint::{Endpoint, EndpointError, SerialLine};
pub use error::{DeviceError, Exception};
